"""pydantic's validation errors, translated into located diagnostics with words a user understands.

pydantic reports errors by *location tuples* that mix field names with the names of union members it
tried (`("layers", 2, "dense", "units")`, `("model", "dict[any,any]")`) and by messages written for
Python programmers ("Input should be greater than 0"). Users need the field path they wrote, the line
and column it is on, what was expected in plain words and, where a near miss is likely, a suggestion.
This module does that translation once, for every command (validate, migrate, run, compare) and for
`lockstep.dump`.
"""

from __future__ import annotations

import math
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from lockstep.spec.base import INT64_MAX, INT64_MIN
from lockstep.spec.diagnostics import Diagnostic, format_path, key_part
from lockstep.spec.loader import LoadedDocument, LongInteger
from lockstep.spec.wording import close_match as _close
from lockstep.spec.wording import one_of as _one_of
from lockstep.spec.wording import said as _got

__all__ = ["MAX_DIAGNOSTICS", "SYNONYMS", "capped", "pydantic_diagnostics"]

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


def _key_in(node: Any, part: Any) -> tuple[Any, Any]:
    """(the path element, the value) of a mapping key of pydantic's location in the document's data `node`: the
    loader's element for the key (diagnostics.key_part: `null`, `true`), where pydantic gives str(key) (`None`) or
    a number (`1` for `true`); a key not found there is said as pydantic's text, with no value."""
    if isinstance(node, dict):
        key = next((k for k in node if k == part), None)
        if key is None and part not in node:  # part is `None`: pydantic's text of a null key
            key = next((k for k in node if not isinstance(k, str) and str(k) == part), part)
        if key in node:
            return key_part(key), node[key]
    return (part if isinstance(part, str) else str(part)), None


def _walk(cls: type[BaseModel], loc: tuple[Any, ...], data: Any = None
          ) -> tuple[tuple[Any, ...], type[BaseModel] | None, Any, str]:
    """Field path (pydantic's union tags dropped), the model owning the last field, the last annotation,
    and what the error is about: "value", "alternative" (one member of a union), or "key" (a mapping key).
    `data`: the document's data, where a key that is not a string is found to be said as it was written."""
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
        said, child = _key_in(data, part)
        data = data[part] if isinstance(data, list) and isinstance(part, int) and -len(data) <= part < len(data) \
            else child
        if isinstance(current, type) and issubclass(current, BaseModel):
            owner = current
            path[-1] = said
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
                path[-1] = said
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


# YAML 1.1 spelled booleans these ways; YAML 1.2 (and JSON, and the schema) read them as strings.
_YAML11_BOOLS = {"yes": True, "no": False, "on": True, "off": False, "y": True, "n": False}


def _type_message(kind: str, given: Any) -> str:
    """`expected an integer, got the string "64"; remove the quotes`: what was expected, what was written,
    and the fix when it is obvious. Strict types convert nothing, so a number in quotes is a string."""
    want = _TYPE_WORDS[kind]
    got = _got(given)
    if isinstance(given, LongInteger):
        digits = len(given.lstrip("+-"))
        return f"expected {want}, got an integer of {digits} digits, far beyond any value this field takes"
    if isinstance(given, str):
        text = given.strip()
        if "_" in text and kind in ("int_type", "int_parsing", "float_type", "float_parsing") and \
                re.fullmatch(r"[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?", text):
            # `1_000` has no quotes to remove: YAML 1.1 (and Python) read it as 1000, YAML 1.2 and JSON as a string
            return (f"expected {want}, got {got} (YAML 1.2 and JSON read `{text}` as a string: a number has no "
                    f"underscores there); write `{text.replace('_', '')}`")
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
    if kind in ("int_type", "int_from_float") and isinstance(given, float) and given.is_integer() and \
            abs(given) < 2.0**63:  # 1e308 is "integral" too: no 309-digit suggestion
        return f"expected {want}, got {got}; write {int(given)}"
    if kind == "float_type" and isinstance(given, int) and not isinstance(given, bool):
        return f"expected a finite number, got {got}, too large for a float64"
    return f"expected {want}, got {got}"


def _choices(expected: str) -> list[str]:
    """"'a', 'b' or 'c'" (pydantic's list of literals or tags) -> ["a", "b", "c"]."""
    found = re.findall(r"'((?:[^'\\]|\\.)*)'", expected)
    return found or [w.strip() for w in re.split(r",| or ", expected) if w.strip()]


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
        path, owner, annotation, about = _walk(cls, loc, doc.data)
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
            elif suggestion is not None and suggestion in _siblings(doc.data, path[:-1]) \
                    and tuple(path) in getattr(doc, "key_positions", {}):
                # `lr` written beside `learning_rate`: suggesting the key that is already there reads as a loop
                # (an override's `lr` was not written in the file: "did you mean" is its answer)
                message = (f"unknown field `{key}`, given beside `{suggestion}`, the field it would name; remove "
                           f"`{key}` (keep the value you mean under `{suggestion}`)")
                expected = suggestion = None
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
                if kind == "invalid_key" and path:  # the key as YAML wrote it (`null`, `true`), not pydantic's str()
                    where = format_path((*path[:-1], err.get("input")))
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
        fix = "; remove the quotes" if "an integer" in others and re.fullmatch(r"[-+]?[0-9]+", given.strip()) \
            and not isinstance(given, LongInteger) else ""
        expected = ", ".join([*(f"`{c}`" for c in choices), *others.split(" or ")[:-1]])
        expected = f"{expected} or {others.split(' or ')[-1]}" if expected else others
        out[i] = Diagnostic(word.file, word.line, word.column, word.path, word.message + fix, expected,
                            word.suggestion, word.code, word.related)
        drop.add(j)
    return [d for k, d in enumerate(out) if k not in drop]


def _siblings(data: Any, path: tuple[Any, ...]) -> set[str]:
    """The keys of the mapping at `path` in the document's data (empty where there is none)."""
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return set()
    return {str(k) for k in data} if isinstance(data, dict) else set()


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


def capped(doc: LoadedDocument, diags: list[Diagnostic]) -> list[Diagnostic]:
    """The first MAX_DIAGNOSTICS of `diags`, then one line saying how many more there are."""
    if len(diags) <= MAX_DIAGNOSTICS + 1:
        return diags
    return [*diags[:MAX_DIAGNOSTICS], _more(doc, len(diags) - MAX_DIAGNOSTICS)]


def _ctx(err: Any, key: str, default: Any) -> Any:
    return (err.get("ctx") or {}).get(key, default)

