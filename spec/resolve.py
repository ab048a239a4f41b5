"""Read a document once for every command: header, migration, schema, a Recipe's model resolved, semantics.

`lockstep validate`, `lockstep.load`, `run`, `compare`, `deploy`, the distributed launcher and the conformance
suite all read documents through `resolve_document` (one loaded document) or `resolve_file` (every document of
a file). Each document is parsed once and validated once; a Recipe's model (inline, or the one Model document
of the file its `model` names) is read and validated once, together with the recipe, and handed to the recipe's
semantic checks and to the caller. The result, `Resolved`, keeps where every field was written (`loaded`) and
what the document's relative paths resolve against (`base_dir`), so a command that runs a recipe never reads it
or its model again.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lockstep.spec import semantics
from lockstep.spec.diagnostics import Diagnostic, SpecError
from lockstep.spec.documents import KINDS, Document, Recipe
from lockstep.spec.header import check_header
from lockstep.spec.loader import LoadedDocument, load_file, load_text, read_text
from lockstep.spec.npy import reads_once
from lockstep.spec.paths import missing_file, resolve_path
from lockstep.spec.schema_errors import capped, pydantic_diagnostics
from lockstep.spec.semantics.located import Located, PathParts, diag

try:  # migrations are a separate part of the spec; reading works without them
    from lockstep.spec import migrations as _migrations
except ImportError:  # pragma: no cover - they ship with lockstep
    _migrations = None  # type: ignore[assignment]

__all__ = ["Resolved", "resolve_document", "resolve_documents", "resolve_file"]


@dataclass(frozen=True)
class Resolved:
    """A valid document as the commands use it: the pydantic object, where each of its fields was written, what
    its relative paths resolve against, and for a Recipe its model, resolved the same way (`model.loaded` is
    the model file's document, or the recipe's own for an inline model; `model.base_dir` is what the model's
    weights path resolves against)."""

    document: Document
    loaded: Located = dataclasses.field(repr=False, compare=False)
    base_dir: Path
    model: Resolved | None = None

    @property
    def file(self) -> str:
        return self.loaded.file


class _Nested:
    """A recipe's inline `model` seen as a document of its own, located inside the recipe."""

    def __init__(self, parent: Any, data: Any) -> None:
        self.parent = parent
        self.data = data
        self.file = parent.file
        self.index = getattr(parent, "index", 0)
        self.line, self.column = parent.locate(("model",))

    def locate(self, path: PathParts) -> tuple[int, int]:
        return self.parent.locate(("model", *tuple(path)))

    def key_location(self, path: PathParts) -> tuple[int, int]:
        finder = getattr(self.parent, "key_location", None)
        return finder(("model", *tuple(path))) if finder else self.locate(path)

    @property
    def key_positions(self) -> dict[PathParts, tuple[int, int]]:
        """Where the model's keys were written (the recipe's, under `model`): a key the file holds, not an
        override's."""
        keys = getattr(self.parent, "key_positions", None) or {}
        return {path[1:]: at for path, at in keys.items() if path[:1] == ("model",)}


def nested_model(recipe: Any, data: Any) -> Any:
    """A recipe document's inline `model` (`data`) as a document located inside it: its problems said at the
    recipe's lines (`model.layers[2].units`), by `resolve` and by the API's `dump` alike."""
    return _Nested(recipe, data)


def _internal(doc: Any, stage: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(doc.file, doc.line, doc.column, "", f"internal error in lockstep's {stage} "
                      f"({type(exc).__name__}: {exc}); please report it with this document", code="internal")


def resolve_document(doc: LoadedDocument, *, base_dir: str | os.PathLike[str] | None = None
                     ) -> tuple[Resolved | None, list[Diagnostic]]:
    """The resolved document (None if anything is wrong) and every problem found in it.

    Order: header (`apiVersion`, `kind`), migration from an older version, schema, then (only if the schema
    passed) a Recipe's model and the semantics (shapes, references, data against model). Relative paths in the
    document resolve against `base_dir` (default: the document's folder). Never raises for a bad document.
    """
    problems = check_header(doc)
    if problems:
        return None, problems
    if _migrations is not None and _migrations.needs_migration(doc.data):
        try:
            _migrations.migrate_document(doc)  # renamed fields keep the lines of their old names
        except Exception as exc:  # a document must never crash the validator: report, don't raise
            return None, [_internal(doc, "migration", exc)]
    cls = KINDS[doc.data["kind"]]
    try:
        obj = cls.model_validate(doc.data)
    except ValidationError as exc:
        return None, capped(doc, pydantic_diagnostics(cls, exc, doc))
    except (RecursionError, MemoryError) as exc:
        return None, [Diagnostic(doc.file, doc.line, doc.column, "", f"document too large to validate ({exc})",
                                 code="too-large")]
    except Exception as exc:  # a validator bug: report it against the document
        return None, [_internal(doc, "schema validation", exc)]
    base = Path(base_dir) if base_dir is not None else Path(doc.file).parent
    model: Resolved | None = None
    try:
        problems = []
        with reads_once():  # the model's checks and the recipe's read one weights file once
            if isinstance(obj, Recipe):
                model, problems = _recipe_model(obj, doc, base)
            problems += semantics.check(obj, doc, base_dir=base, model=model.document if model else None)  # type: ignore[arg-type]
        problems = _in_order(doc, problems)
    except SpecError as exc:
        problems = exc.diagnostics
    except Exception as exc:  # a checker bug: report it against the document
        problems = [_internal(doc, "semantic checks", exc)]
    if problems:
        return None, capped(doc, problems)
    return Resolved(obj, doc, base, model), []


def _in_order(doc: Located, found: list[Diagnostic]) -> list[Diagnostic]:
    """This document's problems by line, then those its model file reports in its own file."""
    here = [d for d in found if d.file == doc.file]
    return sorted(here, key=lambda d: (d.line, d.column)) + [d for d in found if d.file != doc.file]


def resolve_documents(docs: list[LoadedDocument], *, base_dir: str | os.PathLike[str] | None = None
                      ) -> tuple[list[Resolved], list[Diagnostic]]:
    """Every valid document of `docs` resolved, and every problem of every one of them."""
    valid, diags = [], []
    for doc in docs:
        resolved, problems = resolve_document(doc, base_dir=base_dir)
        diags.extend(problems)
        if resolved is not None:
            valid.append(resolved)
    return valid, diags


def resolve_file(path: str | os.PathLike[str]) -> tuple[list[Resolved], list[Diagnostic]]:
    """Every valid document of one file, resolved, and every diagnostic (the file's load errors included)."""
    try:
        docs = load_file(path)
    except SpecError as exc:
        return [], exc.diagnostics
    return resolve_documents(docs)


def _recipe_model(recipe: Recipe, doc: Located, base_dir: Path) -> tuple[Resolved | None, list[Diagnostic]]:
    """The recipe's model (inline, or the one Model document at its relative path), resolved.

    Problems of an inline model are located in the recipe (`model.layers[2].units`); problems of a
    model file are located in that file.
    """
    if isinstance(recipe.model, dict):
        kind = recipe.model.get("kind")
        if kind is not None and kind != "Model":
            return None, [diag(doc, ("model", "kind"), f"an inline `model` must be a Model document, not "
                               f"`{kind}`", "Model", code="kind")]
        model, diags = resolve_document(_Nested(doc, recipe.model), base_dir=base_dir)  # type: ignore[arg-type]
        fixed = [Diagnostic(d.file, d.line, d.column, "model" + ("." + d.path if d.path else ""), d.message,
                            d.expected, d.suggestion, d.code, d.related) for d in diags]
        return model, fixed
    if not recipe.model.strip():  # resolved, '' is the recipe's own folder: "`` is a folder" said nothing useful
        return None, [diag(doc, ("model",), "`model` is empty; name a Model document file (or hold the Model "
                           "inline)", code="reference")]
    try:
        full = resolve_path(base_dir, recipe.model)
    except ValueError as exc:
        return None, [diag(doc, ("model",), str(exc), code="path")]
    if full.is_dir():
        return None, [diag(doc, ("model",), f"`{recipe.model}` is a folder; `model` names a Model document "
                           "file (or holds the Model inline)", code="reference")]
    if not full.is_file():
        if full.exists():  # a FIFO, a device or a socket: never opened
            return None, [diag(doc, ("model",), missing_file("model file", recipe.model, full), code="reference")]
        near = sorted(p.name for p in full.parent.glob("*.y*ml")) if full.parent.is_dir() else []
        close = difflib.get_close_matches(full.name, near, n=1)
        return None, [diag(doc, ("model",), f"model file `{recipe.model}` does not exist (looked for {full})",
                           close[0] if close else None, code="reference")]
    shown = os.path.normpath(os.path.join(base_dir, recipe.model))  # as the user would name it, not resolved
    try:
        docs = load_text(read_text(full), shown)
    except SpecError as exc:
        return None, [dataclasses.replace(d, file=shown) if d.file == str(full) else d for d in exc.diagnostics]
    models = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == "Model"]
    if len(models) != 1:
        return None, [diag(doc, ("model",), f"`{recipe.model}` must hold exactly one Model document, "
                           f"found {len(models)}", code="reference")]
    return resolve_document(models[0], base_dir=full.parent)
