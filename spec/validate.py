"""Validate loaded documents: version, kind, schema (pydantic) and semantics, with located messages."""

from __future__ import annotations

import difflib
import glob
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from lockstep.spec import migrations
from lockstep.spec.base import SUPPORTED_VERSIONS
from lockstep.spec.diagnostics import Diagnostic, SpecError, format_path
from lockstep.spec.documents import KINDS, Document
from lockstep.spec.loader import LoadedDocument, load_file

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")

# Names that users bring from PyTorch and Keras, mapped to the standard's.
SYNONYMS = {
    "lr": "learning_rate", "eps": "epsilon", "beta_1": "beta1", "beta_2": "beta2", "betas": "beta1",
    "alpha": "rho", "out_features": "units", "out_channels": "filters", "p": "rate", "kernel": "kernel_size",
    "strides": "stride", "dilation_rate": "dilation", "pool_size": "kernel_size", "num_embeddings": "input_dim",
    "embedding_dim": "output_dim", "hidden_size": "units", "batch_first": None, "apiversion": "apiVersion",
    "api_version": "apiVersion", "Kind": "kind", "decay": "weight_decay", "clipnorm": "gradient_clipping",
    "epochs": "training", "steps": "training", "batchsize": "batch_size", "max_steps": "steps",
}


@dataclass
class Result:
    files: int = 0
    documents: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    io_error: bool = False
    per_document: list[tuple[str, int, list[Diagnostic]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diagnostics


# ------------------------------------------------------------------------------ pydantic -> located
def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation admits (Annotated, Optional, Union stripped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    return [annotation]


def _model_for(options: list[Any], data: Any) -> type[BaseModel] | None:
    models = [t for t in options if isinstance(t, type) and issubclass(t, BaseModel)]
    if len(models) == 1:
        return models[0]
    if isinstance(data, dict):
        for m in models:
            f = m.model_fields.get("type") or m.model_fields.get("kind")
            key = "type" if "type" in m.model_fields else "kind"
            if f is not None and data.get(key) in typing.get_args(f.annotation):
                return m
    return None


def _walk(cls: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None]:
    """Field path (pydantic's union tags dropped) and the model class that owns the last key."""
    path: list[Any] = []
    owner: type[BaseModel] | None = cls
    annotation: Any = cls
    for part in loc:
        if isinstance(data, dict) and part in data:
            owner = _model_for(_unwrap(annotation), data)
            if owner is not None and part in owner.model_fields:
                annotation = owner.model_fields[part].annotation
            else:
                args = [a for t in _unwrap(annotation) for a in typing.get_args(t)]
                annotation = args[-1] if args else Any
            data = data[part]
            path.append(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            args = [a for t in _unwrap(annotation) if typing.get_origin(t) is list for a in typing.get_args(t)]
            annotation = args[0] if args else Any
            data = data[part]
            path.append(part)
        elif isinstance(part, str) and isinstance(data, dict):
            m = _model_for(_unwrap(annotation), data)
            if m is not None and part in m.model_fields:  # a missing key of a known model
                owner = m
                path.append(part)
                data = None
            # otherwise: a union member tag such as 'dense' or 'list[int]': not part of the field path
        else:
            continue
    owner = _model_for(_unwrap(annotation), data) or owner
    return tuple(path), owner


def _plain(message: str) -> str:
    message = message.replace("Input should be", "expected").replace("Value error, ", "")
    for word in ("greater", "less"):
        message = message.replace(f"expected {word}", f"expected a value {word}")
    message = message.replace("Field required", "missing required field")
    return message[0].lower() + message[1:] if message else message


def _literal_suggestion(given: Any, expected: str) -> str | None:
    words = [w.strip(" '\"") for w in expected.replace(" or ", ",").split(",")]
    close = difflib.get_close_matches(str(given), [w for w in words if w], n=1, cutoff=0.5)
    return close[0] if close else None


def pydantic_diagnostics(cls: type[BaseModel], exc: ValidationError, doc: LoadedDocument) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path, _ = _walk(cls, doc.data, loc)
        kind = err["type"]
        suggestion = None
        expected = None
        if kind == "extra_forbidden":
            key = str(path[-1]) if path else str(loc[-1])
            parent_path, parent = _walk(cls, doc.data, loc[:-1])
            fields = sorted(parent.model_fields) if parent else []
            suggestion = SYNONYMS.get(key) if SYNONYMS.get(key) in fields else None
            suggestion = suggestion or next(iter(difflib.get_close_matches(key, fields, n=1, cutoff=0.6)), None)
            message = f"unknown field `{key}`"
            expected = ("one of " + ", ".join(f"`{f}`" for f in fields if f != "type")) if fields else None
            line, col = doc.key_location((*parent_path, key))
        else:
            line, col = doc.locate(path) if kind != "missing" else doc.locate(path[:-1])
            if kind == "missing":
                message = f"missing required field `{path[-1] if path else loc[-1]}`"
            elif kind == "union_tag_invalid":
                ctx = err.get("ctx", {})
                tag = ctx.get("tag")
                disc = str(ctx.get("discriminator", "type")).strip("'")
                path = (*path, disc)
                line, col = doc.locate(path)
                message = f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} `{tag}`"
                expected = f"one of {ctx.get('expected_tags')}"
                suggestion = _literal_suggestion(tag, str(ctx.get("expected_tags", "")))
            elif kind == "union_tag_not_found":
                message = f"missing required field {err.get('ctx', {}).get('discriminator', '`type`')}"
            elif kind == "literal_error":
                exp = str(err.get("ctx", {}).get("expected", ""))
                message = f"`{err.get('input')}` is not allowed here"
                expected = exp
                suggestion = _literal_suggestion(err.get("input"), exp)
            else:
                message = _plain(err["msg"])
                if "input" in err and not isinstance(err["input"], (dict, list)):
                    message += f", got {err['input']!r}"
        key = (format_path(path), message)
        if key in seen:
            continue
        seen.add(key)
        out.append(Diagnostic(doc.file, line, col, format_path(path), message, expected, suggestion, "schema"))
    # `lr: 0.1` gives both "unknown field `lr`" (did you mean `learning_rate`?) and "missing
    # `learning_rate`": the first says it all.
    meant = {d.path.rsplit(".", 1)[0] + "." + d.suggestion if "." in d.path else d.suggestion
             for d in out if d.suggestion and d.message.startswith("unknown field")}
    out = [d for d in out if not (d.message.startswith("missing required field") and d.path in meant)]
    return sorted(out, key=lambda d: (d.line, d.column))


# ------------------------------------------------------------------------------------------ documents
def check_header(doc: LoadedDocument) -> list[Diagnostic]:
    data = doc.data
    if not isinstance(data, dict):
        what = "nothing" if data is None else type(data).__name__
        return [Diagnostic(doc.file, doc.line, doc.column, "", f"a document must be a mapping, got {what}",
                           "a mapping with `apiVersion` and `kind`", code="schema")]
    out = []
    version = data.get("apiVersion")
    version = version if isinstance(version, str) or version is None else repr(version)
    if version is None:
        out.append(Diagnostic(doc.file, doc.line, doc.column, "apiVersion", "missing required field `apiVersion`",
                              f"`{SUPPORTED_VERSIONS[-1]}`", code="version"))
    elif version not in SUPPORTED_VERSIONS and version not in migrations.MIGRATABLE:
        line, col = doc.locate(("apiVersion",))
        out.append(Diagnostic(doc.file, line, col, "apiVersion",
                              f"unknown spec version `{version}`: this lockstep reads "
                              + ", ".join(f"`{v}`" for v in (*migrations.MIGRATABLE, *SUPPORTED_VERSIONS))
                              + " (a newer version needs a newer lockstep)", code="version"))
    kind = data.get("kind")
    kind = kind if isinstance(kind, str) or kind is None else repr(kind)
    if kind not in KINDS:
        line, col = doc.locate(("kind",))
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1, cutoff=0.5)
        out.append(Diagnostic(doc.file, line, col, "kind",
                              "missing required field `kind`" if kind is None else f"unknown kind `{kind}`",
                              "one of " + ", ".join(f"`{k}`" for k in KINDS), close[0] if close else None,
                              code="kind"))
    return out


def validate_document(doc: LoadedDocument, *, base_dir: str | os.PathLike[str] | None = None
                      ) -> tuple[Document | None, list[Diagnostic]]:
    """The validated document (or None) and every problem found in it."""
    problems = check_header(doc)
    if problems:
        return None, problems
    if doc.data["apiVersion"] in migrations.MIGRATABLE:
        doc.data = migrations.migrate(doc.data)
    cls = KINDS[doc.data["kind"]]
    try:
        obj = cls.model_validate(doc.data)
    except ValidationError as exc:
        return None, pydantic_diagnostics(cls, exc, doc)
    from lockstep.spec import semantics

    base = Path(base_dir) if base_dir is not None else Path(doc.file).parent
    problems = semantics.check(obj, doc, base_dir=base)
    return (obj if not problems else None), problems


def load_and_validate(path: str | os.PathLike[str]) -> tuple[list[Document], list[Diagnostic]]:
    """Every valid document of one file, and every diagnostic (load errors included)."""
    try:
        docs = load_file(path)
    except SpecError as exc:
        return [], exc.diagnostics
    valid, diags = [], []
    for doc in docs:
        obj, problems = validate_document(doc)
        diags.extend(problems)
        if obj is not None:
            valid.append(obj)
    return valid, diags


def expand_paths(paths: list[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Files, folders (recursive, *.yaml/*.yml/*.json) and globs -> files, sorted and de-duplicated."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))] if glob.has_magic(raw) else [Path(raw)]
        if not matches:
            problems.append(Diagnostic(raw, 0, 0, "", "no file matches this pattern", code="io"))
        for p in matches:
            if p.is_dir():
                found = sorted(f for f in p.rglob("*") if f.suffix in DOCUMENT_SUFFIXES and f.is_file()
                               and not any(part.startswith(".") for part in f.relative_to(p).parts))
                if not found:
                    problems.append(Diagnostic(str(p), 0, 0, "", "folder holds no .yaml, .yml or .json file",
                                               code="io"))
                files.extend(found)
            elif p.exists():
                files.append(p)
            else:
                problems.append(Diagnostic(str(p), 0, 0, "", "no such file or folder", code="io"))
    unique = list(dict.fromkeys(files))
    return unique, problems


def validate_paths(paths: list[str]) -> Result:
    files, problems = expand_paths(paths)
    result = Result(diagnostics=list(problems), io_error=bool(problems))
    for f in files:
        result.files += 1
        try:
            docs = load_file(f)
        except SpecError as exc:
            result.diagnostics.extend(exc.diagnostics)
            result.io_error |= exc.io_error
            result.per_document.append((str(f), 0, exc.diagnostics))
            continue
        for doc in docs:
            result.documents += 1
            _, diags = validate_document(doc)
            result.diagnostics.extend(diags)
            result.per_document.append((str(f), doc.index, diags))
    return result
