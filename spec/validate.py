"""Validate loaded documents: version, kind, schema (pydantic) and semantics, with located messages.

pydantic reports errors by *location tuples* that mix field names with the names of union members it
tried (`("layers", 2, "dense", "units")`, `("model", "dict[any,any]")`) and by messages written for
Python programmers ("Input should be greater than 0"). Users need the field path they wrote, the line
and column it is on, what was expected in plain words and, where a near miss is likely, a suggestion.
This module does that translation once, for every command (validate, migrate, run, compare).
"""

from __future__ import annotations

import difflib
import glob
import json
import math
import os
import re
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from lockstep.spec.base import API_VERSION, INT64_MAX, INT64_MIN, SUPPORTED_VERSIONS
from lockstep.spec.diagnostics import Diagnostic, SpecError, format_path
from lockstep.spec.documents import KINDS, Document
from lockstep.spec.files import NotRegularFileError
from lockstep.spec.loader import LoadedDocument, load_file

try:  # migrations and semantics are separate parts of the spec; validation works without either
    from lockstep.spec import migrations as _migrations
except ImportError:  # pragma: no cover - both ship with lockstep
    _migrations = None  # type: ignore[assignment]
try:
    from lockstep.spec import semantics as _semantics
except ImportError:  # pragma: no cover
    _semantics = None  # type: ignore[assignment]

__all__ = ["DOCUMENT_SUFFIXES", "Result", "check_header", "expand_paths", "load_and_validate",
           "pydantic_diagnostics", "validate_document", "validate_paths"]

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")
MAX_DIAGNOSTICS = 100
"""Most problems listed for one document (then one line says how many more): a list of 500,000 wrong items
must not take minutes and gigabytes to report."""

# Names that users bring from PyTorch and Keras, mapped to the standard's.
SYNONYMS = {
    "lr": "learning_rate", "eps": "epsilon", "beta_1": "beta1", "beta_2": "beta2", "betas": "beta1",
    "alpha": "rho", "out_features": "units", "out_channels": "filters", "p": "rate", "kernel": "kernel_size",
    "strides": "stride", "dilation_rate": "dilation", "pool_size": "kernel_size", "num_embeddings": "input_dim",
    "embedding_dim": "output_dim", "hidden_size": "units", "apiversion": "apiVersion",
    "api_version": "apiVersion", "Kind": "kind", "decay": "weight_decay", "clipnorm": "gradient_clipping",
    "clip_norm": "gradient_clipping", "epochs": "training", "steps": "training", "batchsize": "batch_size",
    "max_steps": "steps", "optim": "optimizer", "scheduler": "schedule", "lr_schedule": "schedule",
}

# Patterns of the spec models, said in words.
_PATTERNS = {
    r"^[A-Za-z_][A-Za-z0-9_\-]*$": "a name (a letter or `_`, then letters, digits, `_` or `-`)",
    r"^(cpu|cuda(:\d+)?|gpu(:\d+)?)$": "`cpu`, `cuda`, `cuda:N`, `gpu` or `gpu:N`",
}

_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a string", "string_unicode": "a string",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list", "iterable_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
}
_COMPARISONS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="), "less_than": ("lt", "<"),
                "less_than_equal": ("le", "<="), "multiple_of": ("multiple_of", "a multiple of")}


@dataclass
class Result:
    """What `validate_paths` found: counts, every diagnostic, and the diagnostics of each document."""

    files: int = 0
    documents: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    io_error: bool = False
    per_document: list[tuple[str, int, list[Diagnostic]]] = field(default_factory=list)  # (file, index, diags)
    path_problems: list[Diagnostic] = field(default_factory=list)  # paths that name no readable file

    @property
    def ok(self) -> bool:
        return not self.diagnostics


# ------------------------------------------------------------------------------ pydantic -> located
def _members(annotation: Any) -> list[Any]:
    """The alternatives an annotation admits, Annotated and None stripped (`int | None` -> [int])."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a) if m is not type(None)]
    return [annotation]


def _tags(model: Any) -> tuple[str, ...]:
    """The discriminator values (`type` or `kind` literals) a model accepts."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        for name in ("type", "kind"):
            f = model.model_fields.get(name)
            if f is not None and typing.get_origin(f.annotation) is typing.Literal:
                return tuple(str(a) for a in typing.get_args(f.annotation))
    return ()


def _pick(members: list[Any], tag: Any) -> Any:
    """The union member pydantic named `tag` (a discriminator value, a class name or `dict[...]`)."""
    for m in members:
        if tag in _tags(m):
            return m
        origin = typing.get_origin(m) or m
        name = getattr(origin, "__name__", "")
        if isinstance(tag, str) and name and (tag == name or tag.startswith(name + "[")):
            return m
    return Any


def _walk(cls: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None, Any, str]:
    """Field path (pydantic's union tags dropped), the model owning the last field, the last annotation,
    and what the error is about: "value", "alternative" (one member of a union), or "key" (a mapping key)."""
    path: list[Any] = []
    owner: type[BaseModel] | None = cls
    annotation: Any = cls
    about = "value"
    for part in loc:
        if part == "[key]":  # an invalid mapping key: the error is about the key at the path so far
            about = "key"
            continue
        members = _members(annotation)
        if len(members) > 1:  # pydantic names the member it tried next: not part of the field path
            annotation, about = _pick(members, part), "alternative"
            continue
        about = "value"
        current = members[0] if members else Any
        path.append(part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            owner = current
            path[-1] = part if isinstance(part, str) else str(part)  # the loader's path for a non-str key
            f = current.model_fields.get(part) if isinstance(part, str) else None
            annotation = f.annotation if f is not None else Any
            if f is not None and f.metadata:  # constraints live beside the type: keep them for messages
                annotation = typing.Annotated[(annotation, *f.metadata)]
        else:
            origin = typing.get_origin(current)
            args = typing.get_args(current)
            if origin in (list, tuple, set, frozenset):
                annotation = args[0] if args else Any
            elif origin is dict:
                annotation = args[1] if len(args) == 2 else Any
                path[-1] = part if isinstance(part, str) else str(part)  # the loader's path for a non-str key
            else:
                annotation = Any
    return tuple(path), owner, annotation, about


def _noun(annotation: Any) -> str:
    members = _members(annotation)
    if members and all(m is int for m in members):
        return "an integer"
    return "a number"


def _number(value: Any) -> str:
    """A bound from a constraint, as written in the spec's docs."""
    if value == INT64_MAX:
        return "2**63 - 1 (the largest 64-bit integer)"
    if value == INT64_MIN:
        return "-2**63 (the smallest 64-bit integer)"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _real(value: float) -> str:
    """A float input as YAML writes it: `3.0` stays `3.0` (an integer field must say why it refuses it)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def _quoted(text: str) -> str:
    """A string input in double quotes, control characters escaped, shortened past 60 characters."""
    text = text if len(text) <= 60 else text[:57] + "..."
    return json.dumps(text, ensure_ascii=False)


def _got(value: Any) -> str:
    """The input, said briefly (`-3`, `3.0`, `the string "abc"`, `a list`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        if not value:
            return "an empty list"
        text = repr(list(value))
        return f"the list {text}" if len(text) <= 40 else f"a list of {len(value)} items"
    if isinstance(value, str):
        return f"the string {_quoted(value)}"
    if isinstance(value, float):
        return _real(value)
    if isinstance(value, int) and abs(value) >= 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    return str(value)


# YAML 1.1 spelled booleans these ways; YAML 1.2 (and JSON, and the schema) read them as strings.
_YAML11_BOOLS = {"yes": True, "no": False, "on": True, "off": False, "y": True, "n": False}


def _type_message(kind: str, given: Any) -> str:
    """`expected an integer, got the string "64"; remove the quotes`: what was expected, what was written,
    and the fix when it is obvious. Strict types convert nothing, so a number in quotes is a string."""
    want = _TYPE_WORDS[kind]
    got = _got(given)
    if isinstance(given, str):
        text = given.strip()
        if kind in ("int_type", "int_parsing") and re.fullmatch(r"[-+]?[0-9]+", text):
            return f"expected {want}, got {got}; remove the quotes"
        if kind in ("float_type", "float_parsing"):
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                return f"expected {want}, got {got}; remove the quotes"
        if kind in ("bool_type", "bool_parsing"):
            if text.lower() in ("true", "false"):
                return f"expected {want}, got {got}; remove the quotes"
            if text.lower() in _YAML11_BOOLS:
                word = "true" if _YAML11_BOOLS[text.lower()] else "false"
                return (f"expected {want}, got {got} (YAML 1.2 and JSON read `{given}` as a string); "
                        f"write `{word}`")
    if kind in ("int_type", "int_from_float") and isinstance(given, float) and given.is_integer():
        return f"expected {want}, got {got}; write {int(given)}"
    if kind == "float_type" and isinstance(given, int) and not isinstance(given, bool):
        return f"expected a finite number, got {got}, too large for a float64"
    return f"expected {want}, got {got}"


def _choices(expected: str) -> list[str]:
    """"'a', 'b' or 'c'" (pydantic's list of literals or tags) -> ["a", "b", "c"]."""
    found = re.findall(r"'((?:[^'\\]|\\.)*)'", expected)
    return found or [w.strip() for w in re.split(r",| or ", expected) if w.strip()]


def _one_of(choices: list[str] | tuple[str, ...]) -> str:
    quoted = [f"`{c}`" for c in choices]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} or {quoted[1]}"
    return "one of " + ", ".join(quoted)


def _close(word: Any, choices: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str | None:
    found = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=cutoff)
    if not found:  # case slips: `Adam` for `adam`
        lowered = {c.lower(): c for c in choices}
        return lowered.get(str(word).lower())
    return found[0]


def _message(err: Any, annotation: Any) -> tuple[str, str | None, str | None]:
    """(message, expected, suggestion) for one pydantic error that is not about keys or unions."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    got = _got(given)
    if kind in _TYPE_WORDS:
        return _type_message(kind, given), None, None
    if kind in _COMPARISONS:
        key, sign = _COMPARISONS[kind]
        return f"expected {_noun(annotation)} {sign} {_number(ctx.get(key))}, got {got}", None, None
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length" if kind == "too_short" else "max_length")
        items = "item" if bound == 1 else "items"
        word = "at least" if kind == "too_short" else "at most"
        return f"expected {word} {bound} {items}, got {ctx.get('actual_length', got)}", None, None
    if kind in ("string_too_short", "string_too_long"):
        bound = ctx.get("min_length" if kind == "string_too_short" else "max_length")
        word = "at least" if kind == "string_too_short" else "at most"
        return f"expected {word} {bound} character{'s' if bound != 1 else ''}, got {got}", None, None
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"expected {_PATTERNS.get(pattern, f'a string matching `{pattern}`')}, got {got}", None, None
    if kind == "literal_error":
        choices = _choices(str(ctx.get("expected", "")))
        return (f"`{given}` is not allowed here" if not isinstance(given, (dict, list)) else f"got {got}",
                _one_of(choices), _close(given, choices, 0.5) if isinstance(given, str) else None)
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", err["msg"]))
        return text, None, None
    message = err["msg"].replace("Input should be", "expected")
    message = message[:1].lower() + message[1:]
    if given is not None and not isinstance(given, (dict, list)):
        message += f", got {got}"
    return message, None, None


def pydantic_diagnostics(cls: type[BaseModel], exc: ValidationError, doc: LoadedDocument) -> list[Diagnostic]:
    """Every error of one failed `cls.model_validate(doc.data)`, located in the document."""
    out: list[Diagnostic] = []
    seen: set[Diagnostic] = set()
    union_types: dict[str, int] = {}  # path -> index in `out` of a "expected X, got Y" about one alternative
    union_words: dict[str, tuple[int, str]] = {}  # path -> (index in `out`, input) of "`SAME` is not allowed here"
    errors = exc.errors(include_url=False)
    more = 0
    for done, err in enumerate(errors):
        if len(out) >= MAX_DIAGNOSTICS:
            more = len(errors) - done
            break
        loc = tuple(err["loc"])
        path, owner, annotation, about = _walk(cls, loc)
        kind = err["type"]
        where = format_path(path)
        expected: str | None = None
        suggestion: str | None = None
        if kind == "extra_forbidden":
            key = str(path[-1]) if path else str(loc[-1])
            fields = [f for f in (owner.model_fields if owner else {}) if f != "type"]
            synonym = SYNONYMS.get(key)
            suggestion = synonym if synonym in fields else _close(key, fields)
            message = f"unknown field `{key}`"
            expected = f"one of {', '.join(f'`{f}`' for f in fields)}" if fields else None
            habit = _framework_habit(owner, key, err.get("input"))
            if habit:
                message, expected, suggestion = f"{message}: {habit}", None, None
            line, col = doc.key_location(path)
        elif kind == "missing":
            message = f"missing required field `{path[-1] if path else loc[-1]}`"
            line, col = doc.locate(path)
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            disc = str(_ctx(err, "discriminator", "type")).strip("'\"")
            tags = [t for m in _members(annotation) for t in _tags(m)] or _choices(_ctx(err, "expected_tags", ""))
            expected = _one_of(tags)
            if kind == "union_tag_invalid":
                tag = _ctx(err, "tag", "")
                path = (*path, disc)
                where = format_path(path)
                message = f"unknown {disc} `{tag}`"
                suggestion = _close(tag, tags, 0.5)
            else:
                given = err.get("input")
                message = (f"missing required field `{disc}`" if isinstance(given, dict)
                           else f"expected a mapping with `{disc}`, got {_got(given)}")
                if isinstance(given, dict):
                    path = (*path, disc)
                    where = format_path(path)
            line, col = doc.locate(path)
        else:
            message, expected, suggestion = _message(err, annotation)
            line, col = doc.locate(path)
            if kind == "invalid_key" or about == "key":  # about a mapping key: point at the key
                line, col = doc.key_location(path)
                message = (f"field names must be strings, got {_got(err.get('input'))}" if kind == "invalid_key"
                           else f"key `{path[-1] if path else ''}`: {message}")
            elif about == "alternative" and kind in _TYPE_WORDS:  # one member of a union: merge with the others
                if where in union_types:
                    i = union_types[where]
                    first = out[i]
                    wanted = first.message.split(", got ", 1)[0] + " or " + _TYPE_WORDS[kind]
                    out[i] = Diagnostic(first.file, first.line, first.column, first.path,
                                        f"{wanted}, got {_got(err.get('input'))}", code="schema")
                    continue
                union_types[where] = len(out)
            elif about == "alternative" and kind == "literal_error" and isinstance(err.get("input"), str):
                union_words[where] = (len(out), err["input"])
        diag = Diagnostic(doc.file, line, col, where, message, expected, suggestion, "schema")
        if diag not in seen:
            seen.add(diag)
            out.append(diag)
    out = _one_per_union(out, union_words, union_types)
    # `lr: 0.1` gives both "unknown field `lr`" (did you mean `learning_rate`?) and "missing
    # `learning_rate`": the first says it all.
    meant = {(d.path.rsplit(".", 1)[0] + "." if "." in d.path else "") + d.suggestion
             for d in out if d.suggestion and d.message.startswith("unknown field")}
    out = [d for d in out if not (d.message.startswith("missing required field") and d.path in meant)]
    return sorted(out, key=lambda d: (d.line, d.column)) + ([_more(doc, more)] if more else [])


def _one_per_union(out: list[Diagnostic], words: dict[str, tuple[int, str]], types_: dict[str, int]
                   ) -> list[Diagnostic]:
    """`padding: SAME` fails every member of `valid | same | integer | list`: one diagnostic says so, with the
    suggestion (`same`), rather than one per member ("expected an integer or a list" only confuses)."""
    drop = set()
    for where, (i, given) in words.items():
        j = types_.get(where)
        if j is None or i >= len(out) or j >= len(out):
            continue
        word, typed = out[i], out[j]
        choices = re.findall(r"`([^`]*)`", word.expected or "")
        others = typed.message.split(", got ", 1)[0].removeprefix("expected ")
        fix = "; remove the quotes" if "an integer" in others and re.fullmatch(r"[-+]?[0-9]+", given.strip()) else ""
        expected = ", ".join([*(f"`{c}`" for c in choices), *others.split(" or ")[:-1]])
        expected = f"{expected} or {others.split(' or ')[-1]}" if expected else others
        out[i] = Diagnostic(word.file, word.line, word.column, word.path, word.message + fix, expected,
                            word.suggestion, word.code, word.related)
        drop.add(j)
    return [d for k, d in enumerate(out) if k not in drop]


def _framework_habit(owner: Any, key: str, value: Any) -> str | None:
    """What a PyTorch or Keras habit means in the standard, for an unknown field that is one."""
    from lockstep.spec import optimizers

    if key == "weight_decay" and isinstance(owner, type) and issubclass(owner, optimizers._Optimizer) \
            and owner is not optimizers.AdamW:
        kind = owner.model_fields["type"].annotation.__args__[0]
        amount = value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.01
        return (f"`{kind}` has no weight decay in the standard. PyTorch's `weight_decay` on SGD and Adam is "
                f"coupled L2 (added to the gradient): write `regularization: {{l2: {amount}}}` in the recipe; for "
                f"decoupled weight decay (AdamW) write `type: adamw` with `weight_decay: {amount}`")
    return None


def _more(doc: LoadedDocument, count: int) -> Diagnostic:
    return Diagnostic(doc.file, doc.line, doc.column, "", f"and {count} more problem{'s' * (count != 1)} in this "
                      f"document (only the first {MAX_DIAGNOSTICS} are listed)", code="too-many")


def _capped(doc: LoadedDocument, diags: list[Diagnostic]) -> list[Diagnostic]:
    if len(diags) <= MAX_DIAGNOSTICS + 1:
        return diags
    return [*diags[:MAX_DIAGNOSTICS], _more(doc, len(diags) - MAX_DIAGNOSTICS)]


def _ctx(err: Any, key: str, default: Any) -> Any:
    return (err.get("ctx") or {}).get(key, default)


# ------------------------------------------------------------------------------------------ documents
def _readable_versions() -> tuple[str, ...]:
    migratable = tuple(sorted(getattr(_migrations, "MIGRATABLE", ()))) if _migrations is not None else ()
    return (*migratable, *SUPPORTED_VERSIONS)


def check_header(doc: LoadedDocument) -> list[Diagnostic]:
    """The document is a mapping with a known `apiVersion` and `kind` (checked before anything else)."""
    data = doc.data
    if not isinstance(data, dict):
        message = ("empty document (a stray `---`?)" if data is None
                   else f"a document must be a mapping, got {_got(data)}")
        return [Diagnostic(doc.file, doc.line, doc.column, "", message, "a mapping with `apiVersion` and `kind`",
                           code="schema")]
    out = []
    readable = _readable_versions()
    version = data.get("apiVersion")
    if version is None:
        out.append(Diagnostic(doc.file, doc.line, doc.column, "apiVersion", "missing required field `apiVersion`",
                              f"`{API_VERSION}`", code="version"))
    elif not isinstance(version, str):
        line, col = doc.locate(("apiVersion",))
        out.append(Diagnostic(doc.file, line, col, "apiVersion",
                              f"the spec version must be a string, got {_got(version)}", _one_of(readable),
                              code="version"))
    elif version not in readable:
        line, col = doc.locate(("apiVersion",))
        newer = re.fullmatch(r"lockstep/v(\d+)\w*", version)
        current = re.fullmatch(r"lockstep/v(\d+)\w*", API_VERSION)
        hint = ("; it was written for a newer spec version: upgrade lockstep to read it"
                if newer and current and int(newer.group(1)) > int(current.group(1)) else "")
        out.append(Diagnostic(doc.file, line, col, "apiVersion", f"unknown spec version `{version}`: this lockstep "
                              "reads " + ", ".join(f"`{v}`" for v in readable) + hint,
                              suggestion=None if hint else _close(version, readable, 0.7), code="version"))
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        line, col = doc.locate(("kind",))
        if kind is None:
            message, suggestion = "missing required field `kind`", None
        elif isinstance(kind, str):
            message, suggestion = f"unknown kind `{kind}`", _close(kind, list(KINDS), 0.5)
        else:
            message, suggestion = f"the kind must be a string, got {_got(kind)}", None
        out.append(Diagnostic(doc.file, line, col, "kind", message, _one_of(list(KINDS)), suggestion, code="kind"))
    return out


def _internal(doc: LoadedDocument, stage: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(doc.file, doc.line, doc.column, "", f"internal error in lockstep's {stage} "
                      f"({type(exc).__name__}: {exc}); please report it with this document", code="internal")


def validate_document(doc: LoadedDocument, *, base_dir: str | os.PathLike[str] | None = None
                      ) -> tuple[Document | None, list[Diagnostic]]:
    """The validated document (None if anything is wrong) and every problem found in it.

    Order: header (`apiVersion`, `kind`), migration from an older version, schema, then semantics
    (shapes, references, data against model) only if the schema passed. Relative paths in the
    document resolve against `base_dir` (default: the document's folder).
    """
    problems = check_header(doc)
    if problems:
        return None, problems
    if _migrations is not None and _migrations.needs_migration(doc.data):
        try:
            doc.data = _migrations.migrate(doc.data)
        except Exception as exc:  # a document must never crash the validator: report, don't raise
            return None, [_internal(doc, "migration", exc)]
    cls = KINDS[doc.data["kind"]]
    try:
        obj = cls.model_validate(doc.data)
    except ValidationError as exc:
        return None, _capped(doc, pydantic_diagnostics(cls, exc, doc))
    except (RecursionError, MemoryError) as exc:
        return None, [Diagnostic(doc.file, doc.line, doc.column, "", f"document too large to validate ({exc})",
                                 code="too-large")]
    except Exception as exc:  # a validator bug: report it against the document
        return None, [_internal(doc, "schema validation", exc)]
    if _semantics is None:  # pragma: no cover
        return obj, []
    base = Path(base_dir) if base_dir is not None else Path(doc.file).parent
    try:
        problems = _semantics.check(obj, doc, base_dir=base)
    except SpecError as exc:
        problems = exc.diagnostics
    except Exception as exc:  # a checker bug: report it against the document
        problems = [_internal(doc, "semantic checks", exc)]
    return (obj if not problems else None), _capped(doc, problems)


def load_and_validate(path: str | os.PathLike[str]) -> tuple[list[Document], list[Diagnostic]]:
    """Every valid document of one file, and every diagnostic (load errors included).

    The runner uses it to read a Recipe: it gets pydantic objects only when nothing is wrong.
    """
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


def _not_regular(p: Path) -> Diagnostic | None:
    """An I/O diagnostic if `p` exists but is a FIFO, a device or a socket (never opened: it could block)."""
    try:
        mode = p.stat().st_mode
    except OSError:
        return None  # missing or a broken link: said elsewhere, or skipped by a search
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return Diagnostic(str(p), 0, 0, "", str(NotRegularFileError(p, mode)), code="io")


def expand_paths(paths: list[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Files, folders (recursive, *.yaml/*.yml/*.json, hidden folders skipped) and globs -> files,
    in order and without duplicates; plus an I/O diagnostic for each path that names nothing, and for
    each FIFO, device or socket met on the way (refused unread: reading one can block forever)."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        if not raw:
            problems.append(Diagnostic("''", 0, 0, "", "empty path (to validate the current folder, say `.`)",
                                       code="io"))
            continue
        if glob.has_magic(raw):
            # a pattern picks folders (searched) and documents: `configs/*` skips configs/README.md
            matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))
                       if os.path.isdir(m) or m.lower().endswith(DOCUMENT_SUFFIXES)]
            if not matches:
                problems.append(Diagnostic(raw, 0, 0, "", "no .yaml, .yml or .json file matches this pattern",
                                           code="io"))
        else:
            matches = [Path(raw)]
        for p in matches:
            try:
                if p.is_dir():
                    found, odd_files = [], 0
                    for f in sorted(p.rglob("*")):
                        if f.suffix.lower() not in DOCUMENT_SUFFIXES or \
                                any(part.startswith(".") for part in f.relative_to(p).parts):
                            continue
                        if f.is_file():
                            found.append(f)
                        elif (odd := _not_regular(f)) is not None:
                            problems.append(odd)
                            odd_files += 1
                    if not found and not odd_files:
                        problems.append(Diagnostic(str(p), 0, 0, "", "folder holds no .yaml, .yml or .json file",
                                                   code="io"))
                    files.extend(found)
                elif p.is_file():
                    files.append(p)
                elif (odd := _not_regular(p)) is not None:
                    problems.append(odd)
                elif p.exists():  # pragma: no cover - neither a file, a folder nor anything else
                    files.append(p)
                else:
                    problems.append(Diagnostic(str(p), 0, 0, "", "no such file or folder", code="io"))
            except OSError as exc:
                problems.append(Diagnostic(str(p), 0, 0, "", f"cannot read: {exc.strerror or exc}", code="io"))
    return list(dict.fromkeys(files)), problems


def validate_paths(paths: list[str]) -> Result:
    """Validate every document under `paths`; never raises for bad input."""
    files, problems = expand_paths(paths)
    result = Result(diagnostics=list(problems), io_error=bool(problems), path_problems=list(problems))
    seen: set[tuple[Any, ...]] = set()
    real: dict[str, str] = {}
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
            result.diagnostics.extend(d for d in diags if _first_time(d, seen, real))
            result.per_document.append((str(f), doc.index, diags))
    return result


def _first_time(d: Diagnostic, seen: set[tuple[Any, ...]], real: dict[str, str]) -> bool:
    """Whether `d` is new: a model file's problem reported by the recipe that uses it and by the file itself
    (or by two recipes) is one problem, counted once, whichever way its path was written."""
    if d.file not in real:
        real[d.file] = os.path.realpath(d.file) if d.line else d.file
    key = (real[d.file], d.line, d.column, d.path, d.message)
    if key in seen:
        return False
    seen.add(key)
    return True
