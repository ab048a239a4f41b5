"""Lockstep's Python API: the one implementation behind every `lockstep` command (docs/python-api.md).

    lockstep.load(path) -> Model | Recipe | Environment        (validated; `provenance(doc)` says where it was written)
    lockstep.validate(paths) -> Diagnostics                    (a list of Diagnostic, as `lockstep validate` prints)
    lockstep.dump(doc, path=None) -> str                       (YAML, written atomically; load -> dump -> load is exact)
    lockstep.run(recipe, backend=..., overrides=...) -> RunResult   (final parameters as NumPy arrays, history, folder)
    lockstep.compare(recipe, backends=[...]) -> Comparison
    lockstep.certify(adapter, levels=..., dtypes=...) -> Certificate  (report.json as objects)
    lockstep.deploy(run_or_recipe, environment) -> DeployResult
    lockstep.migrate(paths) -> list[Migration];  lockstep.schema(kind) -> dict

Each command of `lockstep` parses its arguments, calls one of these, prints what it returns and exits with the
code it implies; a problem is a `LockstepError` carrying the sentence, the located diagnostics and the exit code
the command prints. Stable within spec v1: names and keyword arguments are only ever added.

This module imports neither NumPy nor a framework at the top (`lockstep validate` and `lockstep schema` start
through it); each function imports what it needs. Recipes may be given as a path or as a `lockstep.spec.Recipe`
built or edited in Python; `overrides` (`--set`) and `seed` (`--seed`) change a copy, validated like the file.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from lockstep.errors import LockstepError, spelled
from lockstep.spec.beside import Beside
from lockstep.spec.diagnostics import Diagnostic, UnlocatedDiagnostic, escape_text
from lockstep.spec.wording import digits

if TYPE_CHECKING:
    import numpy as np

    from lockstep.adapters.base import Adapter
    from lockstep.adapters.registry import Listing
    from lockstep.certificate import Certificate
    from lockstep.compare import Comparison
    from lockstep.conformance.results import CheckResult
    from lockstep.deploy import Result as DeployResult
    from lockstep.effective import EffectiveRecipe
    from lockstep.spec.documents import Document, Model, Recipe
    from lockstep.spec.loader import LoadedDocument
    from lockstep.spec.resources import Limit

__all__ = ["Certificate", "Diagnostics", "Location", "LockstepError", "Migration", "Provenance", "RunResult",
           "TrainingFailed", "certify", "compare", "deploy", "dump", "list_adapters", "load", "migrate",
           "provenance", "run", "schema", "validate"]

PathLike = Union[str, "os.PathLike[str]"]
Overrides = Union[Mapping[str, Any], Iterable[str]]
"""`{"optimizer.learning_rate": 0.01}` (values as Python), or `["optimizer.learning_rate=0.01"]` (values as YAML)."""


def _stderr(prefix: str) -> Callable[[str], None]:
    """A note on stderr, its control characters escaped: an adapter's name holding ESC would drive the terminal."""
    from lockstep.spec.diagnostics import escape_text

    return lambda message: print(escape_text(f"{prefix}: {message}"), file=sys.stderr)


def _got(value: Any) -> str:
    """What a message says was received ("int 42", "None"); imported only when there is a mistake to say."""
    from lockstep.effective import got

    return got(value)


def _path(value: Any, name: str) -> str:
    """`value` (str or os.PathLike) as a str; LockstepError naming the argument for another type or a NUL
    character, which the OS would otherwise report as a TypeError or ValueError from deep inside a command."""
    try:
        text = os.fspath(value) if isinstance(value, os.PathLike) else value
    except TypeError:  # its __fspath__ returned neither str nor bytes
        text = None
    if not isinstance(text, str):
        raise LockstepError(f"{name}: expected a path (str or os.PathLike), got {_got(value)}")
    if "\0" in text:
        raise LockstepError(f"{name}: the path contains a NUL character")
    return text


def _paths(value: Any, name: str) -> list[str]:
    """One path or several (any iterable of them) as strs, each checked as `_path` does."""
    if isinstance(value, (str, os.PathLike)):
        return [_path(value, name)]
    if type(value).__name__ in ("Recipe", "Model", "Environment") and hasattr(value, "model_dump"):
        # a pydantic model iterates over its fields: the message said "got tuple ('apiVersion', ...)"
        raise LockstepError(f"{name}: expected a path or a list of paths, got a loaded {type(value).__name__} "
                            "(this reads documents from files: pass the file it came from, or write it with "
                            "lockstep.dump first)")
    if isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise LockstepError(f"{name}: expected a path or a list of paths, got {_got(value)}")
    paths = [_path(v, name) for v in value]
    if not paths:  # as the command line, which needs one PATH: an empty list is never "nothing to do, all fine"
        raise LockstepError(f"{name}: the list is empty; give at least one path")
    return paths


def _flag(value: Any, name: str) -> bool:
    """A yes/no argument as a bool: `overwrite="false"` is a true string, and took it to mean "replace the run"."""
    numpy = sys.modules.get("numpy")  # NumPy's bool too, as a notebook computes it (numpy 2 names it `bool`)
    if isinstance(value, bool) or (numpy is not None and isinstance(value, numpy.bool_)):
        return bool(value)
    raise LockstepError(f"{name}: expected True or False, got {_got(value)}")


def _callable(value: Any, name: str, what: str) -> Any:
    """None or a function; LockstepError naming the argument for anything else (a call into it raised TypeError
    mid-run, after the run folder was claimed)."""
    if value is not None and not callable(value):
        raise LockstepError(f"{name}: expected {what} or None, got {_got(value)}")
    return value


def _text(value: Any, name: str, what: str) -> str:
    """A name given as a string (a backend, a device); LockstepError naming the argument for anything else."""
    if not isinstance(value, str):
        raise LockstepError(f"{name}: expected {what} (a string), got {_got(value)}")
    return value


# ============================================================================================ provenance
@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based; 0 when unknown
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Provenance:
    """Where a document returned by `load` was written: its file, its index among the file's documents, and
    for a Recipe its model resolved (inline, or the Model document its `model` path names)."""

    file: str
    index: int
    model: Model | None = None
    _loaded: LoadedDocument | None = field(default=None, repr=False, compare=False)
    _absolute: Path | None = field(default=None, repr=False, compare=False)  # `file` from the folder of load time

    @property
    def path(self) -> Path:
        """The file, absolute as it was when loaded: a later change of the current folder does not move it."""
        return self._absolute if self._absolute is not None else Path(self.file).absolute()

    @property
    def base_dir(self) -> Path:
        """The folder the document's relative paths (model, weights, data) resolve against."""
        return self.path.parent

    def where(self, path: str = "") -> Location:
        """The line and column of a field (`"optimizer.learning_rate"`, `"model.layers[2].units"`; `""`: the
        document), or of the nearest enclosing one that the file spells out (a default is not written)."""
        from lockstep.effective import key_parts

        _text(path, "path", "a dotted field path such as optimizer.learning_rate")
        try:
            parts = tuple(int(p) if isinstance(p, str) and digits(p) else p for p in key_parts(path)) if path else ()
        except ValueError as exc:  # said as every bad argument is, naming it
            raise LockstepError(f"path: {exc}") from None
        if self._loaded is None:
            return Location(self.file, 0, 0)
        line, column = self._loaded.locate(parts) if parts else (self._loaded.line, self._loaded.column)
        return Location(self.file, line, column)


_PROVENANCE: Beside[Provenance] = Beside(copied=True)
"""A `load`ed document's Provenance. A copy of it (`recipe.model_copy(update={"seed": 5})`) keeps its original's file:
its relative paths resolved against the current folder ("model.yaml does not exist"), and dump wrote a copy that did
not load. Its lines are the file's, as those of a document changed in place are."""


def provenance(doc: Any) -> Provenance | None:
    """Where `doc` (as returned by `load`, or a copy of it) was read from; None for a document built in Python.
    Kept beside the document, not in it, so that a loaded document equals the same document built by hand.
    Anything but a document (a path, None, a dict) is a LockstepError naming `doc`: None would read as "built in
    Python"."""
    from lockstep.spec.documents import Document

    if not isinstance(doc, Document):
        hint = " (lockstep.load(path) reads the file; provenance takes what it returns)" if isinstance(
            doc, (str, os.PathLike)) else ""
        raise LockstepError(f"doc: expected a Model, Recipe or Environment (as lockstep.load returns it), got "
                            f"{_got(doc)}{hint}")
    return _known_provenance(doc)


def _known_provenance(doc: Any) -> Provenance | None:
    return _PROVENANCE.get(doc)


# ============================================================================================ diagnostics
class Diagnostics(list[Diagnostic]):
    """What `validate` found: the list of every Diagnostic (empty: everything is valid), with the counts that
    `lockstep validate` summarizes."""

    def __init__(self, diagnostics: Iterable[Diagnostic] = (), *, files: int = 0, documents: int = 0,
                 io_error: bool = False, per_document: list[tuple[str, int, list[Diagnostic]]] | None = None,
                 path_problems: list[Diagnostic] | None = None) -> None:
        super().__init__(diagnostics)
        self.files, self.documents, self.io_error = files, documents, io_error
        self.per_document = per_document or []  # (file, document index, its diagnostics), every document
        self.path_problems = path_problems or []  # paths that name no readable file

    @property
    def ok(self) -> bool:
        return not self


def _limit(memory_limit: Limit | int | str | None) -> Limit | None:
    from lockstep.spec.resources import Limit, parse_size

    if memory_limit is None or isinstance(memory_limit, Limit):
        return memory_limit
    if not isinstance(memory_limit, str):  # bytes as any integer type; 2.5 or True is a mistake, not truncated
        from lockstep.effective import as_integer

        memory_limit = as_integer(memory_limit, "memory_limit")
        if memory_limit is not None and memory_limit < 1:  # "a memory limit of -1 bytes" was taken
            raise LockstepError(f"memory_limit {memory_limit}: expected a number of bytes above 0, or a size such as "
                                "\"16GiB\"")
    try:
        size = parse_size(memory_limit) if isinstance(memory_limit, str) else int(memory_limit)
    except (TypeError, ValueError) as exc:
        raise LockstepError(f"memory_limit {memory_limit!r}: {exc}") from None
    return Limit(size, f"memory_limit={memory_limit}")


def validate(paths: PathLike | Iterable[PathLike], *, memory_limit: Limit | int | str | None = None) -> Diagnostics:
    """Validate every document under `paths` (files, folders searched for .yaml/.yml/.json, globs, `-` for
    standard input): the same diagnostics, in the same order, as `lockstep validate`. Never raises for bad
    documents or paths; those are diagnostics (`result.io_error` when a path could not be read); only what cannot
    be a path at all (another type, a NUL character), and a LOCKSTEP_MEMORY_LIMIT that is no size where
    `memory_limit` is not given, raise LockstepError (exit_code 2). `memory_limit` (bytes, or "16GiB"):
    what a recipe's run may need, default LOCKSTEP_MEMORY_LIMIT or this machine's available memory."""
    from lockstep.effective import check_memory_limit
    from lockstep.spec.resources import using_memory_limit
    from lockstep.spec.validate import validate_paths

    items = _paths(paths, "paths")
    if memory_limit is None:  # a LOCKSTEP_MEMORY_LIMIT that is no size is a usage error (exit_code 2), as every
        check_memory_limit()  # command says it; it was said as a problem of whichever document came first
    with using_memory_limit(_limit(memory_limit)):
        r = validate_paths(items)
    return Diagnostics(r.diagnostics, files=r.files, documents=r.documents, io_error=r.io_error,
                       per_document=r.per_document, path_problems=r.path_problems)


# ============================================================================================ load / dump
def load(path: PathLike, kind: str | None = None) -> Document:
    """The validated document in `path` (a Model, Recipe or Environment; `kind` picks one from a file that
    holds several). Raises LockstepError with the diagnostics `lockstep validate` would print (exit_code 1 for
    an invalid document, 2 for a path that names no readable file: empty, a folder, a FIFO). `provenance(doc)`
    gives its file, the line of each field, and for a recipe the resolved model."""
    from lockstep.spec.diagnostics import SpecError
    from lockstep.spec.documents import KINDS
    from lockstep.spec.loader import load_file
    from lockstep.spec.resolve import resolve_document

    if kind is not None and (not isinstance(kind, str) or kind not in KINDS):
        raise LockstepError(f"kind {escape_text(repr(kind))}: expected one of {', '.join(KINDS)}")
    if not _path(path, "path"):
        raise LockstepError("load: no path given (an empty path names no file)")
    path = Path(path)
    try:  # a name too long for the OS: an OSError from is_dir
        folder, odd = path.is_dir(), path.exists() and not path.is_file()
    except OSError as exc:
        raise LockstepError(escape_text(f"{path}: cannot read it ({exc.strerror or exc})"), 2) from None
    if folder:  # said as such: "cannot be read" would send the user looking for a permission problem
        raise LockstepError(escape_text(f"{path}: is a directory; load reads one document file (validate() reads "
                                        "folders)"))
    if odd:
        raise LockstepError(escape_text(f"{path}: is not a regular file (a FIFO, device or socket is never read: "
                                        "reading one can block forever)"))
    try:
        docs = load_file(path)
    except SpecError as exc:
        reason = exc.diagnostics[0].message if exc.io_error and len(exc.diagnostics) == 1 else ""
        said = f"{path}: {reason}" if reason.startswith("cannot read") else f"{path}: cannot be read"
        raise LockstepError(escape_text(said if exc.io_error else f"{path}: not a valid document"),
                            2 if exc.io_error else 1, exc.diagnostics) from None
    chosen = [d for d in docs if kind is None or (isinstance(d.data, dict) and d.data.get("kind") == kind)]
    if len(chosen) != 1:
        what = f"{kind} documents" if kind else "documents"
        hint = "; pass kind=\"Model\", \"Recipe\" or \"Environment\"" if kind is None and len(chosen) > 1 else ""
        raise LockstepError(f"{path}: holds {len(chosen)} {what}, expected one{hint}", 1)
    doc = chosen[0]
    resolved, diags = resolve_document(doc)
    if resolved is None or diags:
        n = len(diags)
        raise LockstepError(f"{path}: the document is not valid ({n} problem{'s' * (n != 1)})", 1, diags)
    obj = resolved.document
    model = resolved.model.document if resolved.model is not None else None
    # the file's data as read, apart from the object's: an inline model is the same dict in both (pydantic keeps an
    # untyped mapping as given), and an edit of it in Python was its own "as read" (never said "set in Python")
    read = dataclasses.replace(doc, data=copy.deepcopy(doc.data))
    _PROVENANCE.put(obj, Provenance(str(path), doc.index, model, read, path.absolute()))
    return obj


def _document_data(doc: Document) -> dict[str, Any]:
    """The data a file would hold for `doc`: what differs from the standard's defaults, in the usual key order."""
    from pydantic_core import PydanticSerializationError

    from lockstep.effective import ordered

    try:  # an assignment in Python is not validated: what it set is checked when the data is validated again
        data = ordered(doc.model_dump(mode="json", exclude_defaults=True, warnings=False))
    except (PydanticSerializationError, ValueError) as exc:  # a value no file can hold (an object() assigned to a
        # field, a list holding itself: "Circular reference detected")
        raise LockstepError(f"the {type(doc).__name__} holds a value no document can hold (assigned in Python?): "
                            f"{' '.join(str(exc).split())[:200]}") from None
    _refuse_lone_surrogates(doc, type(doc).__name__)  # the object's own strings: model_dump replaces a key's
    _keep_non_finite(doc, data)
    return data


def _keep_non_finite(doc: Any, data: Any) -> None:
    """Put back into `data` the NaN and ±inf that pydantic's JSON dump turned into None inside untyped mappings (an
    inline model's): `layers[0].name = nan` trained under a made-up name, and a shape's nan was "got null"; the
    values are judged as a file's `.nan` would be. Typed fields keep theirs already."""
    import math

    from pydantic import BaseModel

    stack: list[tuple[Any, Any]] = [(doc, data)]
    while stack:
        obj, out = stack.pop()
        if isinstance(out, dict) and isinstance(obj, (BaseModel, dict)):
            if isinstance(obj, BaseModel):
                source = {**(obj.model_extra or {}), **{k: getattr(obj, k, None) for k in type(obj).model_fields}}
            else:
                source = {k if isinstance(k, str) else str(k): v for k, v in obj.items()}
            pairs: list[tuple[Any, Any]] = [(k, source[k]) for k in out if k in source]
        elif isinstance(out, list) and isinstance(obj, (list, tuple)) and len(obj) == len(out):
            pairs = list(enumerate(obj))
        else:
            continue
        for key, value in pairs:
            if isinstance(value, float) and not math.isfinite(value) and out[key] is None:
                out[key] = value
            else:
                stack.append((value, out[key]))


def _refuse_lone_surrogates(value: Any, where: str) -> None:
    """A str with a lone surrogate (Python makes them of undecodable file names and arguments) is no Unicode text:
    no file can hold it. YAML's writer raised UnicodeEncodeError, and a label key was silently replaced by U+FFFD."""
    from pydantic import BaseModel

    from lockstep.spec.diagnostics import escape_text, format_path, lone_surrogate

    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, BaseModel):
            pairs: Any = [(k, getattr(item, k, None)) for k in type(item).model_fields]
            pairs += list((item.model_extra or {}).items())
        else:
            pairs = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, (list, tuple)) \
                else ()
        for key, child in pairs:
            code = lone_surrogate(key) if isinstance(key, str) else None
            code = code if code is not None else lone_surrogate(child) if isinstance(child, str) else None
            if code is not None:
                field = escape_text(format_path((*path, key)))
                raise LockstepError(f"the {where}'s {field or 'document'}: not valid Unicode text (lone surrogate "
                                    f"U+{code:04X}), which no document can hold (assigned in Python?)")
            stack.append(((*path, key), child))


def dump(doc: Document | Iterable[Document], path: PathLike | None = None) -> str:
    """`doc` (or several documents, separated by `---`) as YAML, written atomically to `path` when given (a
    `.json` path gets JSON); returns the text. Fields equal to the standard's default are left out, so a dumped
    document reads like a hand-written one and `load(dump(load(f)))` equals `load(f)`. The document is checked
    against the schema first (it may have been edited in Python, where assignments are not validated), an
    Environment also against the checks beyond it (a deploy is the first to read one): an invalid one raises
    LockstepError (exit_code 1) and nothing is written."""
    from pydantic import ValidationError

    from lockstep.spec.documents import KINDS, Document
    from lockstep.spec.loader import dump_yaml
    from lockstep.spec.resolve import nested_model
    from lockstep.spec.validate import pydantic_diagnostics

    iterable = isinstance(doc, Iterable) and not isinstance(doc, (str, bytes, bytearray, Mapping))
    docs = [doc] if isinstance(doc, Document) else list(doc) if iterable else []
    if not docs or not all(isinstance(d, Document) for d in docs):
        raise LockstepError("dump: expected a Model, Recipe or Environment (or a list of them), got "
                            f"{_got(doc)}", 2)
    if path is not None and not _path(path, "path"):
        raise LockstepError("dump: the path is empty; give a file, or path=None for the text only")
    label = os.fspath(path) if path is not None else "<dump>"
    data = []
    for i, d in enumerate(docs):
        item = _document_data(d)
        cls = KINDS[item["kind"]]
        unplaced = f"<{item['kind'].lower()} {d.metadata.name}>"
        prov = _known_provenance(d)
        loaded = prov._loaded if prov is not None else None  # a loaded document edited in Python: said as run says it
        edited = _edited_in_python(prov.file, item, loaded.data) if prov is not None and loaded is not None else None
        where = _placed_as(item, prov.file if prov is not None and loaded is not None else label, loaded, i)

        def placed(x: Diagnostic, edited: Callable[[Any], str | None] | None = edited, unplaced: str = unplaced
                   ) -> UnlocatedDiagnostic:
            return UnlocatedDiagnostic.of(x, (edited(x) if edited is not None else None) or unplaced)

        # a recipe's inline model is a plain mapping to the Recipe's schema (it is resolved later): check it too
        inline = item.get("model") if item["kind"] == "Recipe" and isinstance(item.get("model"), Mapping) else None
        for what, body, kind in [(item["kind"], item, cls), *([("inline model", inline, KINDS["Model"])]
                                                               if inline is not None else [])]:
            try:
                kind.model_validate(body)
            except ValidationError as exc:
                at = where if body is item else nested_model(where, body)  # an inline model: inside the recipe
                diags = pydantic_diagnostics(kind, exc, at)
                if body is inline:  # said where the recipe holds it
                    diags = [dataclasses.replace(x, path=f"model.{x.path}" if x.path else "model") for x in diags]
                raise LockstepError(f"{label}: not written: the {what} is not valid", 1,
                                    [placed(x) for x in diags]) from None
        if item["kind"] == "Environment":  # no `run` reads it before a deploy: its checks beyond the schema too
            from lockstep.spec.semantics.environment import check_environment

            diags = check_environment(cls.model_validate(item), where)
            if diags:
                raise LockstepError(f"{label}: not written: the Environment is not valid", 1,
                                    [placed(x) for x in diags])
        data.append(item)
    if path is not None:
        _refuse_lost_files(docs, data, Path(path), label)
    if path is not None and Path(path).suffix.lower() == ".json":
        if len(data) != 1:
            raise LockstepError(f"{label}: a JSON file holds one document; dump {len(data)} to YAML", 2)
        text = json.dumps(data[0], indent=2, ensure_ascii=False) + "\n"
    else:
        text = "---\n".join(dump_yaml(d) for d in data)
    if path is not None:
        from lockstep.spec.atomic import write_text

        try:
            write_text(path, text)
        except OSError as exc:
            raise LockstepError(f"{label}: cannot write: {exc.strerror or exc}", 2) from None
    return text


def _refuse_lost_files(docs: list[Any], data: list[dict[str, Any]], path: Path, label: str) -> None:
    """A loaded document names its model, data and weights files relative to its own folder: dumped into
    another folder that does not hold them, it would no longer load (`model: model.yaml` from elsewhere).
    LockstepError (exit 2) naming each, before anything is written."""
    from lockstep.spec.migrations import named_files

    try:
        there = path.absolute().parent
    except OSError:
        return
    for d, item in zip(docs, data, strict=True):
        where = provenance(d)
        if where is None or where.base_dir == there:
            continue
        lost = []
        for field_path, written in named_files(item):
            with contextlib.suppress(OSError, ValueError):
                if not Path(written).is_absolute() and (where.base_dir / written).exists() \
                        and not (there / written).exists():
                    lost.append(f"`{'.'.join(map(str, field_path))}: {written}`")
        if lost:
            raise LockstepError(f"{label}: not written: {', '.join(lost)} names a file beside {where.path.name} in "
                                f"{where.base_dir}, which {there} does not hold, so the copy would not load; copy "
                                f"{'it' if len(lost) == 1 else 'them'} there first, or `lockstep migrate "
                                f"{where.path} --out {there}`, which copies what a document names", 2)


# ============================================================================================ recipes
def _effective(recipe: PathLike | Recipe, overrides: Overrides | None = None, seed: int | None = None
               ) -> EffectiveRecipe:
    """The recipe a command runs (`lockstep.effective`): a file, or a `lockstep.spec.Recipe` (its fields keep the
    lines they were written on when `load` read it), with `overrides` and `seed` applied and everything validated
    once, its model resolved. Messages and exit codes are `lockstep run`'s (2: bad input)."""
    from lockstep import effective
    from lockstep.spec.documents import Recipe

    if isinstance(recipe, (str, os.PathLike)):
        if not _path(recipe, "recipe"):
            raise LockstepError("recipe: no path given (an empty path names no file)")
        return effective.read(recipe, overrides, seed)
    if not isinstance(recipe, Recipe):
        raise LockstepError(f"recipe: expected a recipe file (str or os.PathLike) or a lockstep.spec.Recipe, got "
                            f"{_got(recipe)}")
    prov = provenance(recipe)
    path = prov.path if prov else None
    label = prov.file if prov else f"<recipe {recipe.metadata.name}>"
    loaded = prov._loaded if prov else None  # a loaded recipe's fields keep the lines they were written on
    data = _document_data(recipe)
    docs = [_placed_as(data, label, loaded)]
    edited = _edited_in_python(label, data, loaded.data) if loaded is not None else None
    return effective.from_documents(docs, base=prov.base_dir if prov else Path.cwd(), label=label, path=path,
                                    where=None if prov else label, overrides=overrides, seed=seed, edited=edited)


def _placed_as(data: Any, label: str, loaded: LoadedDocument | None, index: int = 0) -> LoadedDocument:
    """`data` (a document's fields, perhaps changed in Python) at the lines and columns where `loaded` had them, so
    that its diagnostics name the file's lines; at none where it was not loaded (`index`: among the call's)."""
    from lockstep.spec.loader import LoadedDocument

    if loaded is None:
        return LoadedDocument(data, label, index, 0, 0)
    return LoadedDocument(data, label, loaded.index, loaded.line, loaded.column, dict(loaded.positions),
                          dict(loaded.key_positions))


def _edited_in_python(label: str, now: Any, read: Any) -> Callable[[Any], str | None]:
    """For a diagnostic of a loaded recipe: `FILE:LINE:COL (set in Python)` where its field's value is no longer the
    one the file holds (`recipe.optimizer.learning_rate = -1` was said at the file's line alone, which reads
    0.003): the line says where the field is, the note where its value came from."""
    from lockstep.effective import key_parts

    missing = object()

    def at(data: Any, parts: tuple[Any, ...]) -> Any:
        for part in parts:
            if isinstance(data, dict) and (part in data or str(part) in data):  # a key "1" is part 1 of the path
                data = data[part if part in data else str(part)]
            elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
                data = data[part]
            else:
                return missing
        return data

    def said(d: Any) -> str | None:
        if d.file != label or not d.path:
            return None
        try:
            parts = tuple(int(p) if isinstance(p, str) and digits(p) else p for p in key_parts(d.path))
        except ValueError:
            return None
        value, was = at(now, parts), at(read, parts)
        if value is was is missing or value == was:  # (a field the file held, removed in Python, is an edit too)
            return None
        return f"{label}:{d.line}:{d.column} (set in Python)" if d.line else f"{label} (set in Python)"

    return said


# ============================================================================================ run
@dataclass(eq=False)
class RunResult:
    """A finished (or resumed-to-the-end) run: what the run folder holds, as Python objects and arrays.

    `==` is identity: field by field it reached the parameters' arrays and raised NumPy's "truth value of an array
    is ambiguous", and two runs always differ in their timings; compare `parameters` with NumPy instead."""

    recipe: Recipe  # the effective recipe: overrides and seed applied
    model: Model
    backend: str
    device: str
    folder: Path  # absolute: metrics.jsonl, report.json, loss.svg, recipe.resolved.yaml, checkpoints/
    parameters: dict[str, np.ndarray]  # final parameters and buffers, canonical names and layouts, float64
    history: list[dict[str, Any]]  # metrics.jsonl: one record per step (step, epoch, loss, lr, eval, ...)
    metrics: dict[str, float]  # the final evaluation (the recipe's metrics)
    steps: int  # steps trained in all (a resumed run counts the steps before the resume)
    resumed_from: int | None
    recipe_hash: str  # sha256 of the effective recipe with its model (report.json `recipe_hash`)
    fingerprint: dict[str, Any]  # the machine and library versions the numbers came from
    report: dict[str, Any]  # report.json

    @property
    def final_loss(self) -> float:
        return float(self.history[-1]["loss"]) if self.history else float("nan")

    @property
    def losses(self) -> np.ndarray:
        """The training loss of every step (step k at index k - 1)."""
        import numpy as np

        return np.array([h["loss"] for h in self.history], dtype=np.float64)

    @property
    def learning_rates(self) -> np.ndarray:
        """The learning rate each step used (after warm-up and schedule)."""
        import numpy as np

        return np.array([h["lr"] for h in self.history], dtype=np.float64)

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one evaluation metric over the run (`"loss"`, `"accuracy"`, `"mse"`, `"mae"`)."""
        import numpy as np

        if not isinstance(name, str):  # a list raised TypeError ("unhashable type") from the lookup below
            raise LockstepError(f"metric: expected a metric name (str), got {_got(name)}")
        pts = [(h["step"], h["eval"][name]) for h in self.history if name in (h.get("eval") or {})]
        if not pts and name not in self.metrics:
            raise UnknownMetric(f"no evaluation metric `{name}` in this run (it has "
                                f"{', '.join(self.metrics) or 'none'})")
        return (np.array([p[0] for p in pts], dtype=np.int64), np.array([p[1] for p in pts], dtype=np.float64))


class UnknownMetric(LockstepError, KeyError):
    """`RunResult.metric` of a metric the run did not evaluate: a LockstepError as every problem the API names,
    and a KeyError as a lookup by name is (`except KeyError` keeps working)."""

    __str__ = Exception.__str__  # the sentence, not KeyError's quoted repr of it


class TrainingFailed(LockstepError):
    """Training stopped at a non-finite loss or gradient (exit 1); `result` holds the steps done before it."""

    exit_code = 1


def _fingerprint(backend: str) -> dict[str, Any]:
    """The machine fingerprint (lockstep/fingerprint.py): CPU, `backend`'s threads, library builds."""
    from lockstep.fingerprint import fingerprint

    return dict(fingerprint([backend]))


def run(recipe: PathLike | Recipe, backend: str = "reference", out: PathLike | None = None, resume: bool = False,
        overrides: Overrides | None = None, *, seed: int | None = None, device: str = "cpu", steps: int | None = None,
        overwrite: bool = False, tensorboard: bool = False, progress: bool = False,
        log: Callable[[str], None] | None = None, threads: int | None = None) -> RunResult:
    """Train `recipe` (a file, or a `lockstep.spec.Recipe`) on `backend` into the run folder `out` (default
    `runs/<recipe name>-<backend>`), as `lockstep run` does: locked while it lives, never clobbered (`resume`
    continues it from its last verified checkpoint, `overwrite` replaces an earlier run's files), with
    metrics.jsonl, checkpoints, report.json, loss.svg and recipe.resolved.yaml (the effective recipe).

    `overrides` change fields of a copy (`{"optimizer.learning_rate": 0.01}` or `["training.steps=50"]`), `seed`
    the seed; both are validated like the file, and a problem names the override. `steps` caps the run;
    `tensorboard` also writes event files into `out/tensorboard/`; `progress` draws progress on stderr; `log`
    receives the notes a run prints (default: stderr); `threads` the backend's intra-op threads (default:
    OMP_NUM_THREADS if set, else the CPUs this process may use; inter-op 1).

    Raises LockstepError for bad input (exit_code 2: invalid recipe, unknown backend, busy folder, ...) and
    TrainingFailed (exit_code 1, `.result` = the steps before) when a loss or gradient becomes non-finite."""
    import time

    from lockstep import tensorboard as tb
    from lockstep.effective import RESOLVED, as_integer, as_threads, resolved_yaml
    from lockstep.progress import Progress
    from lockstep.runfolder import (
        FolderError,
        cannot_write,
        check_out_arg,
        claim_run,
        default_out,
        recipe_inputs,
    )
    from lockstep.runner import (
        RunError,
        RunFailed,
        backend_versions,
        build_session,
        prepare_loaded,
        train,
        write_report,
    )
    from lockstep.spec import atomic

    say = _callable(log, "log", "a function taking a message") or _stderr("lockstep")
    resume, overwrite = _flag(resume, "resume"), _flag(overwrite, "overwrite")
    tensorboard, progress = _flag(tensorboard, "tensorboard"), _flag(progress, "progress")
    steps = as_integer(steps, "steps", 1, "--steps")
    threads = as_threads(threads)
    backend = canonical_backend(_text(backend, "backend", "an adapter name"))
    device = _text(device, "device", "a device name such as cpu or cuda")
    if resume and overwrite:
        raise LockstepError("resume and overwrite exclude each other: continue the run, or replace it")
    check_out_arg(None if out is None else _path(out, "out"), "--out", "lockstep run")
    which = None
    if tensorboard:
        try:
            which = tb.require()
        except tb.Unavailable as exc:
            raise LockstepError(str(exc)) from None
    eff = _effective(recipe, overrides, seed)
    name = eff.recipe.metadata.name
    folder_path = default_out(out, name, backend)
    inputs = recipe_inputs(eff.path or eff.base / "<recipe>", (eff.recipe, eff.model, eff.base))
    checkpointed = eff.recipe.checkpoint is not None
    folder = claim_run(folder_path, inputs=inputs, mode="resume" if resume else "overwrite" if overwrite else "fresh",
                       checkpointed=checkpointed if resume else None)  # (its note about nothing to resume, in notes)
    writer = None
    try:
        for note in folder.notes:
            say(note)
        where = folder.path
        prep = prepare_loaded(eff.recipe, eff.model, eff.base, steps, eff.path)
        adapter, session = build_session(prep, backend, device, threads)
        if which is not None and (why := tb.problem(where, folder.shown, which, resume=resume)):
            raise LockstepError(f"--tensorboard: {why}")  # while the previous run (--overwrite) is still there
        folder.start()  # --overwrite removes the previous run's files now, not before the backend was built
        resolved = resolved_yaml(eff)
        if which is not None:
            try:
                stale = tb.event_files(where / tb.FOLDER)  # an earlier run's: replaced by the history resumed
                writer = tb.Recorder(tb.open_writer(where / tb.FOLDER, which), say, stale, where / tb.FOLDER)
            except Exception as exc:  # failed after the probe passed: said before the first step
                raise LockstepError(f"--tensorboard: cannot write event files with {which} ({tb.reason(exc)})"
                                    ) from None
        elif resume and tb.event_files(where / tb.FOLDER):  # a view that would stop where the earlier run stopped
            say(f"{folder.shown / tb.FOLDER} keeps the earlier run's event files, which will not show the steps "
                "this run adds; resume with --tensorboard to write them anew from the checkpoint")
        versions = backend_versions(adapter, backend)
        bar = Progress(prep.total_steps, label=f"{name} [{backend}]", enabled=progress)
        extra = {"overrides": [c.said for c in eff.changes],
                 "recipe_resolved": {"file": RESOLVED, "sha256": hashlib.sha256(resolved.encode()).hexdigest()}}
        t0 = time.perf_counter()

        def finish(result: Any, error: str | None = None) -> RunResult:
            """report.json and loss.svg written (LockstepError, exit 2, when they cannot be), as a RunResult."""
            try:
                # else write_report would make a new folder of that name
                folder.check_in_place(unwritten="its report.json and loss.svg were")
                write_report(where, prep, result, backend=backend, device=device, versions=versions,
                             wall=time.perf_counter() - t0, error=error, extra=extra)
                report = json.loads((where / "report.json").read_text(encoding="utf-8"))
                problem = None
            except OSError as exc:
                report, problem = {}, cannot_write(folder.shown, exc, report=True)
            except FolderError as exc:  # the folder went: its outcome is still said, its report is not written
                report, problem = {}, str(exc).removeprefix("lockstep run: ")
            # where the folder went, if it was moved: its metrics.jsonl is there
            done = RunResult(eff.recipe, eff.model, backend, device, folder.moved_to() or where,
                             session.get_parameters(), list(result.history), dict(result.eval_metrics),
                             result.history[-1]["step"] if result.history else 0, result.resumed_from,
                             prep.recipe_hash, report.get("environment") or _fingerprint(backend), report)
            if problem is not None:
                err = LockstepError(problem, 2)
                err.result = done
                raise err
            return done

        def started(records: list[dict[str, Any]]) -> None:
            """The run starts (a resume: from a checkpoint that passed its checks): only now is recipe.resolved.yaml
            replaced, so a refused resume leaves the one of the run it refused to continue."""
            try:
                atomic.write_text(where / RESOLVED, resolved)
            except OSError as exc:  # a full disk before the first step: said as once training runs, exit 2
                raise LockstepError(cannot_write(folder.shown, exc, started=False)) from None
            if writer is not None:
                writer.restart(records)

        try:
            result = train(prep, session, out=where, resume=resume, progress=bar, backend=backend, on_step=writer,
                           on_start=started, guard=folder.check_in_place, say=say)
        except RunFailed as exc:
            bar.close()
            failed = TrainingFailed(str(exc), 1, exc.diagnostics)
            try:
                failed.result = finish(exc.result, str(exc))
            except LockstepError as write_error:  # the run's outcome is said even when its report is not written
                say(str(write_error))
                failed.result, failed.exit_code = write_error.result, 2
            raise failed from None
        except RunError:
            bar.close()
            raise
        except OSError as exc:  # disk full, permissions: the last complete checkpoint is still there
            bar.close()
            raise LockstepError(cannot_write(folder.shown, exc, checkpointed=checkpointed)) from None
        bar.close()
        return finish(result)
    finally:
        if writer is not None:
            writer.close()
        folder.release()


# ============================================================================================ compare
def canonical_backend(name: str) -> str:
    """A built-in adapter's name whatever its spelling (`PyTorch`, `tf`); other names as given."""
    from lockstep.adapters.registry import BUILTIN, builtin_key

    key = builtin_key(name)
    return key if key in BUILTIN else name


def _compare_sessions(recipe: PathLike | Recipe, backends: Iterable[str] | str, *, device: str, steps: int | None,
                      overrides: Overrides | None, seed: int | None, dtype: str | None, threads: int | None,
                      said: list[str] | None = None) -> tuple[Any, dict[str, tuple[Adapter, Any]]]:
    """The prepared recipe (overrides, seed and dtype applied) and an (adapter, session) per backend, every input
    checked first (LockstepError, exit 2). `said`, where given, receives the changes as the user wrote them
    (`--set k=v`, `--seed 3`), for compare.json."""
    from lockstep.effective import as_integer, as_threads
    from lockstep.runner import build_session, prepare_loaded

    if not isinstance(backends, str) and (not isinstance(backends, Iterable)
                                          or isinstance(backends, (Mapping, bytes, bytearray))):  # b"..": ints
        raise LockstepError(f"backends: expected adapter names (a list, or one comma-separated string), got "
                            f"{_got(backends)}")
    given = backends.split(",") if isinstance(backends, str) else [_text(b, "backends", "an adapter name")
                                                                   for b in backends]
    names = [canonical_backend(b.strip()) for b in given if b.strip()]
    if names and any(not b.strip() for b in given):  # `reference,torch,$EXTRA` with EXTRA unset ran two, silently
        raise LockstepError(f"{spelled('backends', '--backends')} {escape_text(repr(backends))}: an empty name (a "
                            "comma at an end, or two in a row: an unset shell variable?); give names separated by "
                            "single commas")
    if len(names) < 2:
        example = spelled('backends=["reference", "torch"]', "--backends reference,torch")
        raise LockstepError(f"give two or more backends, e.g. {example}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise LockstepError(f"{spelled('backends', '--backends')} names `{repeated[0]}` more than once (aliases "
                            "included: pytorch is torch, tf is tensorflow)")
    steps = as_integer(steps, "steps", 1, "--steps")
    threads = as_threads(threads)
    device = _text(device, "device", "a device name such as cpu or cuda")
    if dtype is not None and dtype not in ("float32", "float64"):
        raise LockstepError(f"{spelled('dtype', '--dtype')} {escape_text(repr(dtype))}: expected float32 or float64")
    eff = _effective(recipe, overrides, seed)
    if said is not None:
        said.extend(c.said for c in eff.changes)
    doc = eff.recipe if dtype is None or dtype == eff.recipe.dtype else eff.recipe.model_copy(update={"dtype": dtype})
    prep = prepare_loaded(doc, eff.model, eff.base, steps, eff.path)
    # the reference is the CPU oracle whatever `device`
    built = {n: build_session(prep, n, "cpu" if n == "reference" else device, threads) for n in names}
    by_class: dict[type, str] = {}
    for n, (adapter, _session) in built.items():  # `reference` and `lockstep.adapters.reference:ReferenceAdapter`
        first = by_class.setdefault(type(adapter), n)
        if first != n:
            raise LockstepError(f"{spelled('backends', '--backends')} names one adapter twice: `{first}` and `{n}` "
                                f"are both {type(adapter).__module__}.{type(adapter).__qualname__}")
    return prep, built


def compare(recipe: PathLike | Recipe, backends: Iterable[str] | str = ("reference", "torch"), *, device: str = "cpu",
            steps: int | None = None, overrides: Overrides | None = None, seed: int | None = None, every: int = 1,
            dtype: str | None = None, threads: int | None = None, progress: bool = False) -> Comparison:
    """`lockstep compare`: one recipe on several backends from the same initial bits and batches. Every step (or
    with `every=N` the first three, every N-th and the last) of every backend is judged re-synchronized: it
    starts from the reference's exact state after the step before, so a verdict is about one step's math, on any
    machine; at the steps after which the recipe evaluates, each backend's eval-mode predictions from the
    reference's state are judged too (quantity `prediction`); the free-running trajectories are tabulated as
    drift, not judged (`lockstep.compare`). An adapter that fails mid-run raises LockstepError whose
    `comparison` holds the steps compared before it. The
    reference is the judge whether listed or not, and runs on the CPU. `overrides` and `seed` as in `run`;
    `dtype` runs the recipe in another dtype; `threads` as in `run`.

    The result: `.agree`, `.first_divergence` (backend -> step and quantity), `.rows` (per step), `.arrays()`
    (the per-step table as NumPy arrays) and `.to_json()` (what `--format json` prints)."""
    from lockstep.compare import run_compare
    from lockstep.effective import as_integer
    from lockstep.progress import Progress
    from lockstep.runner import build_session

    progress = _flag(progress, "progress")
    every = as_integer(every, "every", 1, "--every") if every is not None else every
    if every is None:
        raise LockstepError("every: expected an integer, got None")
    said: list[str] = []
    prep, built = _compare_sessions(recipe, backends, device=device, steps=steps, overrides=overrides, seed=seed,
                                    dtype=dtype, threads=threads, said=said)
    names = list(built)
    reference = built["reference"][1] if "reference" in built else build_session(prep, "reference", "cpu", threads)[1]
    bar = Progress(prep.total_steps, label=f"compare {','.join(names)}", enabled=progress)
    try:
        result = run_compare(prep, {n: session for n, (_, session) in built.items()}, bar, reference=reference,
                             every=every)
    except LockstepError as exc:  # an adapter failed mid-run: the rows so far, described as a finished one's
        partial = getattr(exc, "comparison", None)
        if partial is not None:
            _describe_comparison(partial, prep, built, said, steps, dtype)
        raise
    finally:
        bar.close()
    _describe_comparison(result, prep, built, said, steps, dtype)
    return result


def _describe_comparison(result: Comparison, prep: Any, built: dict[str, tuple[Adapter, Any]], said: list[str],
                         steps: int | None, dtype: str | None) -> None:
    """compare.json's record of what was compared: the recipe, the arguments that changed it (as a run's
    report.json keeps `overrides`), the versions, the machine; and the notes on what it did not run."""
    from lockstep.fingerprint import fingerprint
    from lockstep.runner import backend_versions

    result.meta = {"recipe": prep.recipe.metadata.name, "recipe_hash": prep.recipe_hash,
                   "overrides": said, "steps_given": None if steps is None else int(steps), "dtype_given": dtype,
                   "versions": {n: backend_versions(a, n) for n, (a, _) in built.items()},
                   "environment": fingerprint(list(built))}
    spread = prep.recipe.distribution
    if spread is not None and spread.replicas > 1:  # run silently as one process before (sweep N)
        result.notes.append(f"the recipe's distribution ({spread.replicas} replicas"
                            + (f", batch_norm: {spread.batch_norm}" if spread.batch_norm else "")
                            + ") is not run: compare trains and judges one process, whose steps are the same math "
                            "except `batch_norm: local` statistics; `lockstep run --replicas N` runs it, and "
                            "`lockstep certify --level data_parallel` judges an adapter's replicas")


# ============================================================================================ certify
EXAMPLE_ADAPTERS = {"acme": "examples/acme-adapter"}
"""Adapters that ship as examples in the repository, not installed with Lockstep: the hint when one is asked for."""


def _adapter(name: str | Adapter) -> Adapter:
    from lockstep.adapters.registry import AdapterNotFound, get

    if not isinstance(name, str):
        return name
    try:
        return get(name)
    except AdapterNotFound as exc:
        folder = EXAMPLE_ADAPTERS.get(name.lower())
        if folder is not None and name.lower() not in str(exc).split("known:", 1)[-1]:
            raise AdapterNotFound(f"{exc}; `{name}` is the example adapter in {folder}: install it first with "
                                  f"`pip install ./{folder}` from the repository's root") from None
        raise


def _levels(levels: str | int | Iterable[int | str]) -> tuple[int, ...]:
    """conformance/results.py's reading of levels, its ValueError as a LockstepError (exit 2); NumPy integers
    count as the ints they are."""
    import numbers

    from lockstep.conformance.results import parse_levels  # not at the top: `lockstep validate` starts here

    def level(x: Any) -> Any:
        return int(x) if isinstance(x, numbers.Integral) and not isinstance(x, bool) else x

    if not isinstance(levels, (str, numbers.Integral)) and (not isinstance(levels, Iterable)
                                                             or isinstance(levels, (Mapping, bytes, bytearray))):
        raise LockstepError(f"levels: expected 1-5, level names or `all` (one, a list, or comma-separated), got "
                            f"{_got(levels)}")
    try:
        return parse_levels(level(levels) if not isinstance(levels, Iterable) or isinstance(levels, str)
                            else [level(x) for x in levels], spelled("levels", "--level"))
    except ValueError as exc:
        raise LockstepError(str(exc)) from None


def _names(value: str | Iterable[str] | None, name: str, flag: str) -> tuple[str, ...] | None:
    """Comma-separated text or several names, as a tuple (None: not given). Given but naming nothing (`''`, `','`)
    is refused, never read as "all": an unset shell variable must not turn a narrow run into the whole suite."""
    if value is None:
        return None
    if not isinstance(value, str) and (not isinstance(value, Iterable) or isinstance(value, (bytes, Mapping))):
        raise LockstepError(f"{name}: expected names (a list, or one comma-separated string), got {_got(value)}")
    items = value.split(",") if isinstance(value, str) else [_text(v, name, "a name") for v in value]
    names = tuple(dict.fromkeys(s.strip() for s in items if s.strip()))  # named twice is asked once
    said = spelled(name, flag)
    if not names:
        raise LockstepError(f"{said} {escape_text(repr(value))} names nothing; give one or more, or leave {said} out "
                            "for all")
    if any(not s.strip() for s in items):  # `dense,`: a name lost to a typo or an unset variable, as --level says
        raise LockstepError(f"{said} {escape_text(repr(value))}: an empty name (a comma at an end, or two in a row); "
                            "give names separated by single commas")
    return names


def certify(adapter: str | Adapter, *, levels: str | int | Iterable[int | str] = "all",
            dtypes: str | Iterable[str] = ("float32", "float64"), devices: str | Iterable[str] | None = None,
            examples: int | None = None, seed: int | None = None, constructs: str | Iterable[str] | None = None,
            recipe_steps: int | None = None, report: PathLike | bool = True,
            progress: Callable[[int, int, CheckResult], None] | None = None,
            log: Callable[[str], None] | None = None, threads: int | None = None, jobs: int | None = 1,
            timeout: float | None = None) -> Certificate:
    """`lockstep certify`: the conformance suite against the float64 reference. `adapter` is a name (built-in,
    entry point `lockstep.adapters`, or module:attribute) or an adapter object; `levels` 1-4 or their names;
    `examples` hypothesis examples per check; `seed` one seed, one set of cases (the example recipes' seeds are
    shifted by it too); `recipe_steps` caps level 4 (default: every step of each example recipe, each judged
    from the reference's state; recorded in the certificate, and refused where no example recipe is planned);
    `threads` the adapter's intra-op threads (default: 1 per check, whatever `jobs`;
    with `jobs`, the total that the workers share); `jobs` the worker processes the
    checks run in (default 1: in this process; None: the CPUs this process may use, what the command defaults to),
    with a certificate identical to one process's (the same cases, verdicts and order). `report`: the folder of
    report.json, junit.xml, report.html, report.md and the failures' reproducers (True, or None: `certify-<adapter>/`,
    False: none; a relative folder is taken from the working folder of this call, whatever the adapter does with
    its own). `progress(done, total, result)` is called after each check, counting the checks the summary
    counts. `timeout`: seconds a check (a construct's levels, or an example recipe) may run before its worker
    process is stopped and the check reported an `error` (default: no limit); it runs the checks in worker
    processes, one at least; loading the adapter (its import, configure_threads(), devices(),
    versions(), planning) may then take `timeout` or 120 s (parallel.LOAD_SECONDS), whichever is longer, and past
    it raise LockstepError (a SIGALRM timer in the main thread; called from another thread, the loading runs in a
    thread of its own, left running in the background when it hangs); so may the worker processes' start
    (LockstepError when none takes up a check that long).
    Raises LockstepError (exit_code 2) for bad settings or an unusable adapter (one that cannot load, whose `name`
    is not a string, or whose versions() or devices() answer is unusable)."""
    from difflib import get_close_matches

    from lockstep.conformance.suite import (
        DEFAULT_EXAMPLES,
        DEFAULT_SEED,
        MAX_SEED,
        SPECS,
        example_recipes,
        unused_recipe_steps,
    )
    from lockstep.effective import as_integer, as_seconds, as_threads, check_memory_limit
    from lockstep.runfolder import (
        check_out_arg,
        check_report_folder,
        missing_folders,
        refuse_busy,
        remove_empty,
        writable_folder,
    )

    say = _callable(log, "log", "a function taking a message") or _stderr("lockstep certify")
    progress = _callable(progress, "progress", "a function (done, total, result)")
    try:  # a relative report folder is in this folder, whatever the adapter's code later does with the process's
        home = Path.cwd()
    except OSError as exc:
        raise LockstepError(f"the working folder cannot be read ({exc.strerror or exc})") from None
    name = adapter if isinstance(adapter, str) else ""  # an adapter object's own name, checked below
    if not isinstance(adapter, str):
        if isinstance(adapter, type):
            raise LockstepError(f"adapter: got the class {adapter.__name__}; pass an instance ({adapter.__name__}())")
        if not all(callable(getattr(adapter, m, None)) for m in ("versions", "devices", "support", "build")):
            raise LockstepError(f"adapter: expected an adapter name or a Lockstep adapter object, got {_got(adapter)}")
        name = _own_name(adapter, "adapter", type(adapter).__name__, empty=False)
    # every argument is checked before any check runs (and before a report folder is made)
    examples = as_integer(DEFAULT_EXAMPLES if examples is None else examples, "examples", 1, "--examples")
    seed = as_integer(DEFAULT_SEED if seed is None else seed, "seed", maximum=None)
    if not 0 <= seed <= MAX_SEED:  # it shifts the example recipes' own seeds: theirs must stay valid
        raise LockstepError(f"{spelled('seed', '--seed')} {seed}: expected 0 to 2**62 (the example recipes' seeds "
                            "are shifted by it, and a recipe's seed is a 64-bit integer of 0 or more)")
    recipe_steps = as_integer(recipe_steps, "recipe_steps", 1, "--recipe-steps")
    threads = as_threads(threads)
    jobs = as_integer(jobs, "jobs", 1, "--jobs")
    timeout = as_seconds(timeout, "timeout", "--timeout")
    check_memory_limit()  # once, as run says it: every check of the certification said it as its own error
    chosen_levels = _levels(levels)
    chosen_dtypes = _names(dtypes, "dtypes", "--dtype") if dtypes is not None else ()
    if not chosen_dtypes or any(d not in ("float32", "float64") for d in chosen_dtypes):
        raise LockstepError(f"{spelled('dtypes', '--dtype')}: expected float32 and/or float64, got "
                            f"{escape_text(repr(dtypes))}")
    chosen = _names(constructs, "constructs", "--construct")
    chosen_devices = _names(devices, "devices", "--device")
    if chosen:
        known = {s.construct for s in SPECS} | {p.parent.name for p in example_recipes()}
        unknown = [c for c in chosen if c not in known]
        if unknown:
            hint = get_close_matches(unknown[0], sorted(known), n=1)
            raise LockstepError(f"{spelled('constructs', '--construct')}: unknown `{unknown[0]}`"
                                + (f"; did you mean `{hint[0]}`?" if hint else f"; known: {', '.join(sorted(known))}"))
    if unused := unused_recipe_steps(recipe_steps, chosen_levels, chosen):
        raise LockstepError(f"{spelled('recipe_steps', '--recipe-steps')} {unused}")
    explicit = report if report is not True and report is not False else None
    check_out_arg(None if explicit is None else _path(explicit, "report"), "--report", "lockstep certify")
    made: list[Path] = []  # report folders this call creates: removed again if it stops before writing to them
    if explicit is not None:  # an explicit report folder is checked before anything else is loaded
        check_report_folder(Path(explicit), explicit)
        refuse_busy(Path(explicit), "lockstep certify")
        made += missing_folders(Path(explicit))
        writable_folder(explicit, "--report", "lockstep certify")
    from lockstep.conformance.parallel import Workers, check_threads
    from lockstep.fingerprint import usable_cpus

    workers = usable_cpus() if jobs is None else jobs
    threads = check_threads(threads, workers)  # the same per check whatever `jobs`, unless `threads` is given
    options = dict(levels=chosen_levels, dtypes=chosen_dtypes, examples=examples, seed=seed,
                   constructs=chosen, recipe_steps=recipe_steps)
    ahead = None
    if (workers > 1 or timeout is not None) and isinstance(adapter, str):
        from lockstep.adapters.registry import names
        from lockstep.conformance.suite import Options, plan_size

        start = min(workers, plan_size(Options(devices=chosen_devices or None, **options)))  # never idle ones
        if (start > 1 or timeout is not None) and adapter in names():  # started before this process imports the
            # framework: imports overlap (a timeout runs even one item in a worker)
            ahead = Workers(adapter, name, threads, workers, start)
    try:
        return _certify(adapter, name, workers=workers, threads=threads, ahead=ahead, explicit=explicit,
                        report=report, chosen_devices=chosen_devices, say=say, progress=progress, options=options,
                        home=home, timeout=timeout, made=made)
    except BaseException:  # an unknown adapter, one that cannot load, Ctrl-C: no empty report folder is left
        remove_empty(made)
        raise
    finally:
        if ahead is not None:
            ahead.close()



def _own_name(adapter: Any, label: str, default: str, *, empty: bool = True) -> str:
    """The adapter's `name` attribute (`default` where it has none): a string, or LockstepError. It names the
    certificate and the default report folder, and keys process-wide tables (the threads record), so None or a
    number is refused rather than carried; `empty=False` refuses a blank one too (an adapter object's name is its
    certificate's)."""
    from lockstep.adapters.checked import adapter_code, describe

    try:
        with adapter_code("`name`"):
            own = getattr(adapter, "name", default)
    except Exception as exc:
        raise LockstepError(f"{label}: reading its `name` raised {describe(exc)}") from None
    if isinstance(own, str):  # a subclass of str as plain text: its own __str__ or methods could raise anywhere later
        own = str.__getitem__(own, slice(None))
    if not isinstance(own, str) or (not empty and not own.strip()):
        raise LockstepError(f"{label}: its `name` is {_got(own)}; expected {'a' if empty else 'a non-empty'} string "
                            "(the name its certificate and reproduce commands use)")
    return own


def _certify(adapter: str | Adapter, name: str, *, workers: int, threads: int, ahead: Any,
             explicit: PathLike | None, report: PathLike | bool, chosen_devices: tuple[str, ...] | None,
             say: Callable[[str], None], progress: Callable[[int, int, CheckResult], None] | None,
             options: dict[str, Any], home: Path, timeout: float | None = None,
             made: list[Path] | None = None) -> Certificate:
    """`certify` once its arguments are checked (and its workers started ahead, if any). `home`: the working
    folder when it was called, which a relative report folder is in (read before any adapter code ran). `made`
    gets the report folders it creates (the caller removes them, if still empty, when it stops on an error)."""
    import dataclasses
    import shutil

    from lockstep.adapters.checked import (
        AdapterError,
        AdapterRaised,
        adapter_code,
        adapter_devices,
        adapter_versions,
        describe,
    )
    from lockstep.certificate import Certificate
    from lockstep.conformance import report as reports
    from lockstep.conformance.parallel import WorkerSetupError, adapter_source, bounded
    from lockstep.conformance.results import safe_name
    from lockstep.conformance.suite import Options, adapter_levels, plan
    from lockstep.conformance.suite import certify as run_suite
    from lockstep.runfolder import (
        CERTIFY_OUTPUTS,
        TRASH_PREFIX,
        check_report_folder,
        claim,
        missing_folders,
        writable_folder,
    )
    from lockstep.runner import configure_threads

    def load() -> tuple[Any, str, str | bytes | None, list[str], dict[str, str]]:
        try:
            with adapter_code("import"):
                instance = _adapter(adapter)
        except AdapterRaised as exc:
            raise LockstepError(f"adapter `{name}` failed to load: {exc}") from None
        own = _own_name(instance, f"adapter `{name}`", "adapter")
        source: str | bytes | None = None
        if workers > 1 or timeout is not None:
            try:
                source = adapter_source(adapter, instance)
            except ValueError as exc:
                raise LockstepError(str(exc)) from None
        try:  # first: a framework takes its thread counts before it starts (devices() may start it)
            with adapter_code("configure_threads()"):  # recorded in the report's environment (a worker's, with jobs)
                configure_threads(instance, name, threads)
        except Exception as exc:
            raise LockstepError(f"adapter `{name}`: configure_threads() raised {describe(exc)}") from None
        try:  # the adapter's own answers, checked once: every later step uses these
            offered = list(adapter_devices(instance))
            versions = adapter_versions(instance)
            adapter_levels(instance)
        except AdapterError as exc:
            raise LockstepError(f"adapter `{name}`: {exc}") from None
        return instance, own, source, offered, versions

    instance, own, source, offered, versions = bounded(
        timeout, load, f"adapter `{name}`: loading it (its import, configure_threads(), devices(), versions())")
    if chosen_devices:
        missing = [d for d in chosen_devices if d not in offered]
        if missing:
            raise LockstepError(f"adapter `{name}` offers {', '.join(offered)}; not {missing[0]}")
    chosen = Options(devices=tuple(chosen_devices or offered), **options)
    # the progress counts what the summary counts: one result per level of a construct, one per example recipe
    planned = bounded(timeout, lambda: list(plan(instance, chosen)),
                      f"adapter `{name}`: planning the checks")
    total = sum(len(item.levels) if hasattr(item, "levels") else 1 for item, _, _ in planned)
    workers = min(workers, max(len(planned), 1))  # as the suite runs them: one item runs in this process
    if not total:  # an empty certificate ("NOT CERTIFIED", exit 1) replaced the earlier one
        raise LockstepError(_nothing_planned(chosen))
    out = shown = folder = stage = None
    if report is not False:  # failures are written as they are found: the folder must be writable first
        # the default folder's name is the adapter's, made safe: its text must not climb out of the working folder
        shown = Path(explicit) if explicit is not None else Path(f"certify-{safe_name(own)}")
        out = home / shown
        check_report_folder(out, shown)  # a run's or a deployment's folder keeps its own report.json
        if made is not None:
            made += missing_folders(out)
        # locked while it runs (a second certify, or a run or compare, into it is refused); this run's failing
        # cases are staged and replace an earlier run's failures/ only with its reports, in one step
        folder = claim(writable_folder(out, "--report", "lockstep certify"), outputs=CERTIFY_OUTPUTS,
                       mode="resume", prog="lockstep certify")
        folder.created = folder.created or any(os.path.abspath(m) == os.path.abspath(out) for m in made or [])
        for note in folder.notes:  # reports a killed certify left half replaced, made one run's again
            say(note)
        stage = out / f"{TRASH_PREFIX}{os.getpid()}-staged"
        chosen = dataclasses.replace(chosen, report_dir=stage, report_shown=shown)
    written: list[Certificate] = []  # once its reports stand in `out`: a signal after that says so (`certificate`)
    try:
        try:
            say(f"adapter `{name}`, levels {','.join(map(str, chosen.levels))}, {', '.join(chosen.dtypes)}, devices "
                f"{', '.join(chosen_devices or offered)}, {chosen.examples} examples per check, seed {chosen.seed}"
                + (f", {workers} worker processes × {threads} thread{'s' * (threads != 1)}" if workers > 1 else "")
                + (f", each check stopped after {timeout:g} s" if timeout is not None else ""))
            count = [0]

            def each(_item_done: int, _items: int, result: CheckResult) -> None:
                count[0] += 1
                if progress is not None:
                    progress(count[0], total, result)

            try:
                cert = run_suite(instance, name, chosen, each, jobs=workers, source=source, threads=threads or 1,
                                 workers=ahead, versions=versions, timeout=timeout, items=planned,
                                 say=say)
            except WorkerSetupError as exc:  # the worker processes cannot load or plan the adapter
                raise LockstepError(f"adapter `{name}`: {exc}") from None
            if workers > 1:
                cert.environment["jobs"] = str(workers)
            if timeout is not None:
                cert.environment["timeout"] = f"{timeout:g} s per check"
            files: dict[str, Path] = {}
            if folder is not None:  # moved or removed while it ran: no second, unlocked folder of that name
                try:
                    folder.check_in_place(unwritten="its reports and failing cases were")
                except LockstepError as gone:
                    gone.result = _unkept(cert)  # the verdict stands
                    raise
            if out is not None and stage is not None:
                try:
                    files = reports.write_reports(cert, out, failures=stage / "failures", trash=stage / "previous")
                except OSError as exc:  # a full disk: the verdict still stands (error.result), only its files are lost
                    from lockstep.spec.atomic import left_behind

                    which = f" ({Path(exc.filename).name})" if isinstance(exc.filename, str) and exc.filename else ""
                    unwritten = LockstepError(f"cannot write the report to {out}{which}: {exc.strerror or exc}; "
                                              f"{left_behind(exc)}")
                    unwritten.result = _unkept(cert)  # no reproducer was kept
                    raise unwritten from None
                except KeyboardInterrupt:  # held through the renames, acted on at their end: did the reports go in?
                    if _reports_stand(cert, out):
                        written.append(Certificate.of(cert, out, {k: out / n for k, n in reports.REPORT_FILES.items()}))
                    raise
            written.append(Certificate.of(cert, out, files))  # absolute: right whatever the caller's folder becomes
            return written[-1]
        finally:
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            if folder is not None:
                folder.release()
    except KeyboardInterrupt as stop:
        if written:
            stop.certificate = written[-1]  # type: ignore[attr-defined]
        raise


def _unkept(cert: Any) -> Any:
    """The Certificate of a certification whose reports and failing cases were not written: its verdict, no files."""
    from lockstep.certificate import Certificate

    return Certificate.of(dataclasses.replace(cert, checks=[dataclasses.replace(c, failure_dir=None)
                                                            for c in cert.checks]))


def _reports_stand(cert: Any, out: Path) -> bool:
    """Whether `out/report.json` is this certification's: a signal held through `write_reports`'s renames is acted
    on at their end, whether they all went in or were undone."""
    from lockstep.conformance.report import report_json_text

    try:
        return (out / "report.json").read_text(encoding="utf-8") == report_json_text(cert)
    except (OSError, UnicodeDecodeError):
        return False


def _nothing_planned(options: Any) -> str:
    """Why no check matches the options (a construct without the asked level): said, exit 2, nothing written."""
    from lockstep.conformance.suite import nothing_planned

    return nothing_planned(options, spelled("levels", "--level"), spelled("constructs", "--construct"))


# ============================================================================================ deploy
def deploy(source: PathLike, environment: PathLike, *, weights: PathLike | None = None, out: PathLike | None = None,
           exporter: str = "spec", progress: bool | Callable[[str], None] = False) -> DeployResult:
    """`lockstep deploy`: export `source` (a run folder, or a recipe with `weights`) to ONNX, run it on the target
    the Environment document describes, and check predictions against the float64 reference, latency against
    the budget and versions against the requirements. `result.ok`, `result.checks`, `result.report`
    (deploy.json), `result.summary`. LockstepError (exit_code 2) for inputs found unusable before any work."""
    from lockstep.deploy import claim_out, plan
    from lockstep.deploy import deploy as run_deploy
    from lockstep.effective import check_memory_limit

    say = progress if callable(progress) else _stderr("lockstep deploy") if _flag(progress, "progress") else None
    for name, value in (("source", source), ("environment", environment), ("weights", weights), ("out", out)):
        if value is not None or name in ("source", "environment"):
            _path(value, name)
    check_memory_limit()  # as run says it (it was said as the recipe's problem, `recipe.yaml: LOCKSTEP_...`)
    p = plan(source, environment, weights=weights, out=out, exporter=_text(exporter, "exporter", "an exporter name"))
    folder = claim_out(p)
    try:
        return run_deploy(p, progress=say)
    except OSError as exc:  # the outputs' own writing says so itself (DeployError); this is any other file's
        named = f" ({escape_text(str(exc.filename))})" if exc.filename else ""
        raise LockstepError(f"deploy stopped: {exc.strerror or exc}{named}; the folder holds what it held before") \
            from None
    finally:
        folder.release()


# ============================================================================================ adapters
def list_adapters(extra: Iterable[str] = ()) -> list[Listing]:
    """Every adapter known here (built-in and entry points `lockstep.adapters`), with its versions and devices,
    or the reason it cannot be used (`available` False); `extra`: adapters named `module:attribute` to list too."""
    from lockstep.adapters.registry import available

    names = [extra] if isinstance(extra, str) else extra
    if not isinstance(names, Iterable) or isinstance(names, (bytes, Mapping)):
        raise LockstepError(f"extra: expected adapter names (`module:attribute`), got {_got(extra)}")
    given = [_text(n, "extra", "an adapter name") for n in names]
    from lockstep.adapters.registry import builtin_key
    from lockstep.adapters.registry import names as known

    listed = set(known())
    for name in given:  # each was dropped without a word: `--adapter A` refuses what it does not know
        if not name.strip() or "\0" in name:
            raise LockstepError(f"extra {escape_text(repr(name))}: expected an adapter name (`module:attribute`)")
        if ":" not in name and name not in listed and builtin_key(name) not in listed:
            raise LockstepError(f"extra `{escape_text(name)}`: no adapter of that name here; give it as "
                                "`module:attribute`, or a listed name")
    return available(given)


# ============================================================================================ schema
def schema_text(kind: str | None = None, version: str | None = None) -> str:
    """The JSON Schema text `lockstep schema` prints: the committed file of that spec version and kind (the
    document schema, any kind, when `kind` is None), or the current version generated from the models."""
    from lockstep.spec.documents import KINDS
    from lockstep.spec.schema_export import SCHEMA_ROOT, VERSION, document_schema, kind_schema, render

    # `recipe` is `Recipe` and `V1` is `v1`: names as a user types them, here and in `lockstep schema`.
    if isinstance(kind, str):
        kind = next((k for k in KINDS if k.lower() == kind.lower()), kind)
    if kind is not None and (not isinstance(kind, str) or kind not in KINDS):
        raise LockstepError(f"kind {escape_text(repr(kind))}: expected one of {', '.join(KINDS)}")
    if version is not None and not isinstance(version, str):
        raise LockstepError(f"version: expected a spec version such as v1 (a string), got {_got(version)}")
    if version is not None and not version.strip():  # an unset shell variable, never "the current version"
        raise LockstepError("the spec version is empty; give one such as v1, or leave it out for the current version")
    wanted = (version or VERSION).lower().removeprefix("lockstep/")
    found = {p.name for p in SCHEMA_ROOT.iterdir() if p.is_dir() and any(p.glob("*.schema.json"))} \
        if SCHEMA_ROOT.is_dir() else set()
    known = sorted(found | {VERSION})
    if wanted not in known:
        raise LockstepError(_migrated_version(wanted)
                            or f"unknown spec version `{version}`; this lockstep has " + ", ".join(known))
    path = SCHEMA_ROOT / wanted / f"{kind.lower() if kind else 'document'}.schema.json"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return render(kind_schema(kind) if kind else document_schema())  # only the current version can be generated


def _migrated_version(version: str) -> str:
    """For a version lockstep reads only through migration: that no schema is published for it, and what to do."""
    from lockstep.spec import migrations

    full = f"lockstep/{version}"
    if full not in migrations.MIGRATABLE:
        return ""
    current = migrations.CURRENT.removeprefix("lockstep/")
    return (f"no schema is published for {full}; lockstep reads it by migrating it, and `lockstep migrate` "
            f"rewrites it to {migrations.CURRENT} (`lockstep schema --version {current}`)")


def schema(kind: str | None = None, version: str | None = None) -> dict[str, Any]:
    """The JSON Schema of a document kind (None: any document) for spec `version` (default: the current one)."""
    return json.loads(schema_text(kind, version))


# ============================================================================================ migrate
@dataclass
class Migration:
    """What `migrate` did with one file. `status`: "migrated" (written to `target`), "current" (nothing to do),
    "copied" (already current, copied under `out`), "needed" (check=True: it needs migrating), "invalid" (its
    documents are not valid before or after migration, or name a file that cannot go beside them under `out`:
    `diagnostics`), "unreadable" or "unwritable" (`message`). `named`: (source, copy) of the data and weights
    files copied beside it under `out`. `exit_code` is what `lockstep migrate` exits with for it."""

    file: Path
    status: str
    target: Path | None = None
    versions: list[str] = field(default_factory=list)  # the versions it was written against (when migrated)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    message: str = ""
    io_error: bool = False  # unreadable: the file could not be read (2), rather than parsed (1)
    named: list[tuple[Path, Path]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "unreadable":
            return 2 if self.io_error else 1
        return {"migrated": 0, "current": 0, "copied": 0, "needed": 1, "invalid": 1}.get(self.status, 2)


def migrate(paths: PathLike | Iterable[PathLike], *, check: bool = False, out: PathLike | None = None,
            overwrite: bool = False, on_file: Callable[[Migration], None] | None = None) -> list[Migration]:
    """Rewrite documents to the current spec version, in place or under `out` (keeping paths relative to the
    folder or glob each was found through); `check` writes nothing. A file is written only when every document
    in it is valid after migration; writes are atomic; leading comments (modelines) are kept. A model file a
    recipe names (by a path the loader follows) is migrated, or checked, with it. Under `out`, what a document
    names goes beside it (data and weights files copied; a model file not among `paths` migrated or copied as if
    it were), files already under `out` are not read again as input, and a file not written leaves nothing there
    (nor an `out` folder this call made). Every file is read and planned before any is written: under `out`, a
    symbolic link where a file would go, a file that would land on an input, or an existing file with other
    content (unless `overwrite`; equal content is a re-run, left as it is) stops the call with nothing written.
    LockstepError (exit_code 2) for that, for paths that name no document at all or an unusable `out`; a path
    among others that names no readable document is an "unreadable" Migration. `on_file` hears each file's
    Migration as soon as it is done, so that an interrupted call has said which files it had already written."""

    from lockstep.runfolder import check_out_arg, missing_folders, remove_empty, writable_folder
    from lockstep.spec.atomic import utf8, write_text
    from lockstep.spec.diagnostics import SpecError, format_path
    from lockstep.spec.loader import load_text, read_text
    from lockstep.spec.migrations import (
        CURRENT,
        companions,
        copy_file,
        migrate_document,
        named_files,
        needs_migration,
        outdated_versions,
    )
    from lockstep.spec.paths import resolve_path
    from lockstep.spec.validate import check_header, validate_document

    # an explicitly empty --out is a mistake, never "in place"; an unusable --out fails before any file is read
    items = _paths(paths, "paths")
    check = _flag(check, "check")
    overwrite = _flag(overwrite, "overwrite")
    on_file = _callable(on_file, "on_file", "a function taking a Migration")  # before any file is written
    check_out_arg(None if out is None else _path(out, "out"), "--out", "lockstep migrate")
    if overwrite and out is None:
        raise LockstepError(f"{spelled('overwrite', '--overwrite')} replaces files under "
                            f"{spelled('out', '--out DIR')}; in place, migrate rewrites the files it was given")
    out_dir = None if out is None else Path(os.path.abspath(out))
    pairs, problems = _inputs(items)
    if problems and not pairs:
        n = len(problems)
        raise LockstepError(f"lockstep migrate: nothing to migrate: {n} path{'s' * (n != 1)} "
                            f"name{'s' * (n == 1)} no readable document", 2, problems)
    if out_dir is not None:  # `migrate ip --out ip/new`: ip/new holds outputs, not more inputs
        pairs = [(f, root) for f, root in pairs if _within(root, out_dir) or not _within(f, out_dir)]
    targets: dict[Path, Path] = {}
    outs: set[Path] = set()  # every target, resolved

    def place(f: Path, target: Path) -> None:
        targets[f] = target
        outs.add(target.resolve())

    for f, root in pairs:
        target = Path(os.path.abspath(out_dir / f.relative_to(root))) if out_dir is not None else f
        if target.resolve() in outs:
            raise LockstepError(f"{f}: would be written to {target}, like another input; give the files one "
                                f"{spelled('out', '--out')} each")
        if out_dir is not None and target.resolve() == f.resolve():  # `migrate m --out m`: the input itself
            out_arg, leave = spelled("out", "--out"), spelled("pass out=None", "leave --out out")
            raise LockstepError(f"lockstep migrate: {out_arg} {out}: {f} would be written over itself; {out_arg} "
                                f"writes a copy elsewhere ({leave} to migrate the files in place)")
        place(f, target if out_dir is not None else target.resolve())
    made: list[Path] = []  # folders this call creates under --out: removed at the end if still empty

    def tidy() -> None:
        remove_empty(made)

    if out_dir is not None and not check:
        made += missing_folders(out_dir)
        try:
            writable_folder(out_dir, "--out", "lockstep migrate")
        except BaseException:
            tidy()
            raise
    sources = {f.resolve() for f in targets}  # every document read, so that none is overwritten by a copy
    read: set[Path] = set(sources)  # every file read (documents, data, weights): never a destination
    copied: set[Path] = set()
    # what each file that will be written needs: its text, the files copied beside it, the model files it names
    plans: dict[int, tuple[str, list[tuple[Path, Path]], list[Migration]]] = {}

    def plan(f: Path, text: str, done: Migration, copies: list[tuple[Path, Path]], models: list[tuple[Path, Path]]
             ) -> Migration:
        copies = [(source, dest) for source, dest in copies if dest not in copied]  # once per run
        needs: list[Migration] = []
        for source, dest in models:  # a model file it names, not given: planned (and later written) first
            if source.resolve() in sources:
                continue
            sources.add(source.resolve())
            read.add(source.resolve())
            place(source, dest)
            placed = one(source)
            record(placed)
            if placed.status not in ("migrated", "copied"):
                return Migration(f, "invalid", None, done.versions,
                                 message=f"{f}: not written: the model file it names, {source}, was not written")
            needs.append(placed)
        copied.update(dest for _source, dest in copies)
        plans[id(done)] = (text, copies, needs)
        return done

    def follow(f: Path, docs: list[Any]) -> None:
        """In place (and --check), the model files `f`'s recipes name are migrated (or checked) as if given."""
        for doc in docs:
            for field_path, written in named_files(doc.data):
                if field_path != ("model",):
                    continue
                try:
                    model = resolve_path(f.parent, written)  # the loader's rule: inside the folder unless allowed
                    if not model.is_file() or model in sources:
                        continue
                    shown = Path(os.path.normpath(f.parent / written))  # as the user would name it
                    shown = shown if shown.resolve() == model else model
                except (OSError, ValueError):  # validation says why
                    continue
                sources.add(model)
                place(shown, model)
                record(one(shown))

    def named(f: Path, docs: list[Any]
              ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]], list[Diagnostic]]:
        """The data and weights files to copy beside `f`'s target, the model files it names, and the problems."""
        copies, models, diags = [], [], []
        for doc in docs:
            placed, found = companions(doc, f, targets[f])
            diags.extend(found)
            for field_path, source, dest in placed:
                if source.resolve() == dest.resolve():
                    continue  # --out is the document's own folder: already there
                if field_path == ("model",):
                    if source.resolve() not in sources and dest.resolve() in outs:
                        diags.append(Diagnostic(doc.file, *doc.locate(field_path), format_path(field_path),
                                                f"its copy would overwrite the output of another input, {dest}",
                                                code="path"))
                    else:
                        models.append((source, dest))
                elif dest.resolve() in sources:
                    diags.append(Diagnostic(doc.file, *doc.locate(field_path), format_path(field_path),
                                            f"its copy would overwrite the input {dest}", code="path"))
                else:
                    read.add(source.resolve())
                    copies.append((source, dest))
        return copies, models, diags

    def not_placed(f: Path, versions: list[str], diags: list[Diagnostic]) -> Migration:
        return Migration(f, "invalid", None, versions, diags,
                         f"{f}: not written: a file it names cannot be placed beside it under {out}")

    def one(f: Path) -> Migration:
        try:
            text = read_text(f)
            docs = load_text(text, str(f))
        except SpecError as exc:
            return Migration(f, "unreadable", diagnostics=exc.diagnostics, io_error=exc.io_error)
        if out_dir is None or check:
            follow(f, docs)
        old = [d.data for d in docs]
        if not any(needs_migration(d) for d in old):
            header = [d for doc in docs for d in check_header(doc)]
            if header:
                return Migration(f, "invalid", diagnostics=header)
            if check or out_dir is None:
                return Migration(f, "current")
            copies, models, diags = named(f, docs)  # copied, so that the files under --out find each other
            return not_placed(f, [], diags) if diags else plan(f, _placed_text(f, targets[f], text),
                                                                Migration(f, "copied", targets[f]), copies, models)
        versions = sorted({v for d in old for v in outdated_versions(d)})
        diags = []
        for doc in docs:
            renamed = []
            if needs_migration(doc.data):
                renamed = migrate_document(doc)  # renamed fields keep their lines: diagnostics point at the old names
            diags.extend(_as_written(validate_document(doc)[1], renamed))
        if check:
            return Migration(f, "needed", None, versions, diags)
        if diags:
            return Migration(f, "invalid", None, versions, diags,
                             f"{f}: not written: invalid after migration to {CURRENT}")
        copies, models, diags = named(f, docs) if out_dir is not None else ([], [], [])
        if diags:
            return not_placed(f, versions, diags)
        return plan(f, _placed_text(f, targets[f], _render(f, text, [doc.data for doc in docs])),
                    Migration(f, "migrated", targets[f], versions), copies, models)

    def refused() -> list[Diagnostic]:
        """What under `out` must not be written: a link on the way, an input, a file with other content."""
        found: dict[Path, str] = {}
        for m in planned:
            text, copies, _needs = plans[id(m)]
            for dest, content in [(targets[m.file], utf8(text)), *((d, s) for s, d in copies)]:
                where, why = _refusal(dest, out_dir, content, read, overwrite)  # type: ignore[arg-type]
                if why:
                    found.setdefault(where, why)
        return [UnlocatedDiagnostic(str(p), 0, 0, "", why, code="path", where=str(p)) for p, why in found.items()]

    def write(m: Migration) -> Migration:
        text, copies, needs = plans[id(m)]
        f = m.file
        if any(final[id(n)].status not in ("migrated", "copied") for n in needs):
            return Migration(f, "invalid", None, m.versions,
                             message=f"{f}: not written: the model file it names was not written")
        new_files: list[Path] = []
        try:
            for source, dest in copies:  # what the document names first: once written, it finds them
                made.extend(missing_folders(dest.parent))
                if not dest.exists():
                    new_files.append(dest)
                elif _same(dest, source):
                    continue
                copy_file(source, dest)
            made.extend(missing_folders(targets[f].parent))
            if not _same(targets[f], utf8(text)):
                write_text(targets[f], text)
        except (OSError, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt) and written(m):  # held through the rename, acted on at its end
                m.named = copies
                landed.append(m)  # listed as written by the loop below, which the stop passes through
                raise
            for p in new_files:  # a file not written leaves nothing of its own behind
                with contextlib.suppress(OSError):
                    p.unlink()
            if isinstance(exc, KeyboardInterrupt):
                raise
            return Migration(f, "unwritable", targets[f], m.versions,
                             message=f"{f}: cannot write {targets[f]}: {exc.strerror or exc}")
        m.named = copies
        return m

    def written(m: Migration) -> bool:
        """Whether `m`'s target holds what it was to be written with (a stop acted on after the rename)."""
        try:
            return _same(targets[m.file], utf8(plans[id(m)][0]))
        except OSError:
            return False

    landed: list[Migration] = []  # a file written before a stop came (`write`)
    results: list[Migration] = []  # a model file a recipe names comes before the recipe

    def record(done: Migration) -> None:
        results.append(done)

    final: dict[int, Migration] = {}
    try:
        for d in problems:  # a path among others that names no readable document: said, the rest migrated
            record(Migration(Path(d.file), "unreadable", diagnostics=[d], io_error=True))
        for f, _root in pairs:
            record(one(f))
        planned = [m for m in results if id(m) in plans]
        if out_dir is not None and planned:
            stop = refused()
            if stop:
                n = len(stop)
                raise LockstepError(f"lockstep migrate: nothing written: {n} file{'s' * (n != 1)} under {out} "
                                    "cannot be written", 2, stop)
        done: list[Migration] = []
        for m in results:
            try:
                final[id(m)] = write(m) if id(m) in plans else m
            except KeyboardInterrupt:  # a file written before the stop is listed as written
                if any(x is m for x in landed) and on_file is not None:
                    on_file(m)
                raise
            done.append(final[id(m)])
            if on_file is not None:
                on_file(final[id(m)])
        return done
    finally:
        tidy()


def _as_written(diags: list[Diagnostic], renamed: list[tuple[tuple[Any, ...], tuple[Any, ...]]]
                ) -> list[Diagnostic]:
    """Diagnostics on a renamed field say the name the file has (`gradient_clipping.max_norm` was written
    `clip_norm`): the path is the migrated one, the line the old one, and the user reads the old name there."""
    from lockstep.spec.diagnostics import format_path

    said = []
    for d in diags:
        old = next((o for o, n in sorted(renamed, key=lambda m: -len(m[1]))
                    if o != n and (d.path == format_path(n) or d.path.startswith((f"{format_path(n)}.",
                                                                                  f"{format_path(n)}[")))), None)
        said.append(d if old is None else dataclasses.replace(
            d, message=f"{d.message} (written as `{format_path(old)}` before migration)"))
    return said


def _refusal(dest: Path, out_dir: Path, content: bytes | Path, inputs: set[Path], overwrite: bool
             ) -> tuple[Path, str]:
    """(the path it is about: `dest` or a link on the way, why) `dest` under `out_dir` must not be written with
    `content` (bytes, or the file to copy); why is "" when it may."""
    part = dest
    while part != out_dir and part.is_relative_to(out_dir):  # a link under --out leads anywhere, inputs included
        if os.path.islink(part):
            held = "" if part == dest else f", where {dest.relative_to(part)} would go"
            return part, (f"is a symbolic link (to {os.readlink(part)}{held}); lockstep migrate never writes "
                          "through a link under --out: remove it, or choose another --out")
        part = part.parent
    try:
        if dest.resolve() in inputs:
            return dest, "is one of the files migrate reads; an output never overwrites an input"
        if not dest.exists():
            return dest, ""
        if not dest.is_file():
            return dest, "exists and is not a file"
    except OSError as exc:
        return dest, f"cannot be checked: {exc.strerror or exc}"
    if overwrite or _same(dest, content):
        return dest, ""
    return dest, "exists with other content; remove it, choose another --out, or pass --overwrite to replace it"


def _same(path: Path, content: bytes | Path) -> bool:
    """Whether the regular file `path` already holds `content` (bytes, or a file's): a re-run writes nothing."""
    import filecmp

    try:
        if not path.is_file():
            return False
        if isinstance(content, Path):
            return filecmp.cmp(path, content, shallow=False)
        return path.stat().st_size == len(content) and path.read_bytes() == content
    except OSError:
        return False


def _within(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


_DOCUMENT_START = re.compile(r"---[ \t]*(#.*)?")  # `---`, `--- # a comment` (its header was lost), not `--- {a: 1}`


def _leading_comments(text: str) -> str:
    """The comment block at the top of a YAML file (modelines, licence headers), kept verbatim, with a bare
    document-start line (`---`) and directives (`%YAML 1.2`) among it: a file that opens with `---`, or with a
    directive, and then its comments lost them all."""
    keep = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or not line.strip() or _DOCUMENT_START.fullmatch(line.rstrip("\r\n")) \
                or line.startswith("%"):
            keep.append(line)
        else:
            break
    block = "".join(keep).rstrip("\r\n")
    return block + "\n" if block else ""


def _render(path: Path, original: str, documents: list[object]) -> str:
    """Migrated documents as the file's format: JSON stays JSON; YAML keeps its leading comments; a file whose
    lines end in CRLF keeps CRLF throughout (the kept header was CRLF, the rest LF; JSON became LF), and one that
    opens with a UTF-8 byte-order mark keeps it (`original` is the text after it)."""
    from lockstep.spec.loader import dump_yaml

    if path.suffix.lower() == ".json" and len(documents) == 1:
        text = json.dumps(documents[0], indent=2, ensure_ascii=False) + "\n"
    else:
        text = (_leading_comments(original) + "---\n".join(dump_yaml(d) for d in documents)).replace("\r\n", "\n")
    return text.replace("\n", "\r\n") if original.split("\n", 1)[0].endswith("\r") else text


_MODELINE = re.compile(r"^(\s*#\s*yaml-language-server:\s*\$schema=)(\S+)", re.MULTILINE)


def _placed_text(source: Path, target: Path, text: str) -> str:
    """A file's text as written at `target`: the header's relative `$schema=` modelines pointed from there (a copy
    one folder deeper under --out kept `../schemas/...`, which named nothing), and the source's UTF-8 byte-order
    mark kept (`text` is what follows it)."""
    if target.parent.absolute() != source.parent.absolute() and source.suffix.lower() != ".json":
        header = _leading_comments(text)

        def repoint(m: re.Match[str]) -> str:
            value = m.group(2)
            if "://" in value or os.path.isabs(value):
                return m.group(0)
            there = os.path.normpath(os.path.join(source.parent.absolute(), value))
            return m.group(1) + Path(os.path.relpath(there, target.parent.absolute())).as_posix()

        text = _MODELINE.sub(repoint, header) + text[len(header):] if header and text.startswith(header) else text
    try:
        with open(source, "rb") as fh:
            bom = fh.read(3) == b"\xef\xbb\xbf"
    except OSError:
        bom = False
    return "\ufeff" + text if bom else text


def _inputs(raw_paths: list[str]) -> tuple[list[tuple[Path, Path]], list[Diagnostic]]:
    """(file, root it was found under) for every argument; `root` places the file under `out`."""
    from lockstep.spec.validate import expand_paths, fixed_part, is_pattern

    pairs: list[tuple[Path, Path]] = []
    problems: list[Diagnostic] = []
    for raw in raw_paths:
        files, diags = expand_paths([raw])
        problems.extend(diags)
        if is_pattern(raw):
            root = fixed_part(raw)
        else:
            root = Path(raw).parent
            with contextlib.suppress(OSError):  # a name too long: expand_paths said so
                root = Path(raw) if Path(raw).is_dir() else root
        pairs.extend((f, root) for f in files)
    unique = list(dict.fromkeys(pairs))
    return unique, problems


def __getattr__(name: str) -> Any:
    if name == "Certificate":  # a dataclass of the conformance suite's: defined on first use, like the suite
        from lockstep.certificate import Certificate

        return Certificate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
