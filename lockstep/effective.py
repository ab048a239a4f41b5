"""The effective recipe: the one way every command reads the recipe it runs.

`lockstep run`, `compare`, `deploy`, the data-parallel launcher, the conformance suite's recipes and the Python
API all get a recipe here: from a file, or from a `lockstep.spec.Recipe` given as documents (`from_documents`),
with `--set` overrides and `--seed` applied to a copy of its data, every document validated as `lockstep validate`
would (`spec/resolve.py`: each document and the recipe's model read and validated once), and a problem in an
overridden field said against the override rather than a file position. Messages and exit codes are `lockstep
run`'s (`RunError`, exit 2: bad input).
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from lockstep.errors import LockstepError, RunError, spelled
from lockstep.spec import resources, wording
from lockstep.spec.base import INT64_MAX
from lockstep.spec.diagnostics import (
    Diagnostic,
    SpecError,
    UnlocatedDiagnostic,
    escape_text,
    format_path,
    lone_surrogate,
)
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.loader import LoadedDocument, load_file, load_text
from lockstep.spec.resolve import Resolved, resolve_documents
from lockstep.spec.wording import digits, got

__all__ = [
    "EffectiveRecipe",
    "Override",
    "Overrides",
    "apply",
    "as_integer",
    "attribute",
    "from_documents",
    "got",
    "key_parts",
    "parse_overrides",
    "plain",
    "read",
]

PathLike = Union[str, "os.PathLike[str]"]
Overrides = Union[Mapping[str, Any], Iterable[str]]
"""`{"optimizer.learning_rate": 0.01}` (values as Python), or `["optimizer.learning_rate=0.01"]` (values as YAML)."""

_SEGMENT = re.compile(r"([^.\[\]=]+)((?:\[\d+\])*)")


def key_parts(key: str) -> tuple[str | int, ...]:
    """"model.layers[2].units" -> ("model", "layers", 2, "units"); ValueError for anything else."""
    parts: list[str | int] = []
    for segment in key.split("."):
        m = _SEGMENT.fullmatch(segment.strip())
        if m is None:
            raise ValueError(f"`{escape_text(key)}` is not a dotted field path (e.g. optimizer.learning_rate, "
                             "model.layers[0].units)")
        parts.append(m.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return tuple(parts)


def as_integer(value: Any, name: str, minimum: int | None = None, flag: str | None = None,
               maximum: int | None = INT64_MAX) -> int | None:
    """None, or `value` as a Python int: any integer type counts (NumPy's too, as a notebook computes them), a
    bool or a float never does, so that `steps=2.5` is said to be a mistake rather than truncated. LockstepError
    (exit 2) names `name`, or on the command line `flag` (`spelled`).
    A seed passes maximum=None: its own range check says its own range."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise LockstepError(f"{name}: expected an integer, got {got(value)}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise LockstepError(f"{spelled(name, flag)} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:  # 2**63 - 1, as the documents' integers: a count past it is a
        bound = f"{maximum} (2**63 - 1)" if maximum == INT64_MAX else str(maximum)
        raise LockstepError(f"{spelled(name, flag)} must be at most {bound}, got {number}")  # typo
    return number


MAX_THREADS_PER_CORE = 4  # more intra-op threads than this per core (and than 64) is refused before any work


def max_threads() -> int:
    """The most intra-op threads a command asks a framework for on this machine: 4 per core, 64 at least. Far
    more is a typo, and no error of the framework's: torch crashed (SIGSEGV, nothing said) at 100,000."""
    import os

    return max(MAX_THREADS_PER_CORE * (os.cpu_count() or 1), 64)


def as_threads(value: Any, name: str = "threads", flag: str = "--threads") -> int | None:
    """`as_integer(value, name, 1, flag)`, and at most `max_threads()` (LockstepError, exit 2, naming the limit)."""
    import os

    number = as_integer(value, name, 1, flag)
    if number is not None and number > max_threads():
        raise LockstepError(f"{spelled(name, flag)} {number}: this machine has {os.cpu_count() or 1} CPU cores; "
                            f"at most {max_threads()} threads here")
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    if number is None and digits(asked) and int(asked) > max_threads():  # the default: crashed torch alike
        raise LockstepError(f"OMP_NUM_THREADS={asked[:20]}: this machine has {os.cpu_count() or 1} CPU cores; at "
                            f"most {max_threads()} threads here (lower it, or give {spelled(name, flag)})")
    return number


def as_seconds(value: Any, name: str, flag: str | None = None) -> float | None:
    """None, or `value` as a duration in seconds: a real number above 0 and finite (a bool never counts).
    LockstepError (exit 2) names `flag` (the command's spelling) or `name`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LockstepError(f"{name}: expected seconds (a number), got {got(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond float's range (10**400)
        seconds = math.inf if value > 0 else -math.inf
    if not (math.isfinite(seconds) and seconds > 0):
        shown = f"{seconds:g}" if isinstance(value, float) or not math.isinf(seconds) else str(value)[:40]
        raise LockstepError(f"{spelled(name, flag)} must be a finite number of seconds above 0, got {shown}")
    return seconds


def plain(value: Any) -> Any:
    """An override's value as the YAML a file would hold: NumPy scalars and arrays, other integer and real number
    types and tuples become Python's int, float and list (a file cannot hold an `np.int64`, so validating one
    would refuse `3` for not being an integer)."""
    np = sys.modules.get("numpy")  # not imported: then no value can be a NumPy one
    if np is not None and isinstance(value, np.ndarray):
        return value.tolist()
    if np is not None and isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return _unicode(value)
    if isinstance(value, bool) or value is None or type(value) in (int, float):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {_unicode(k) if isinstance(k, str) else k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    raise TypeError(f"expected a value a YAML file can hold (null, true/false, a number, a string, a list or a "
                    f"mapping), got {got(value)}")  # an object() became the string "<object object at 0x...>"


def _unicode(text: str) -> str:
    """`text`, if a file can hold it: a lone surrogate (Python's stand-in for an undecodable byte of a file name or
    argument) is no Unicode text, and failed deep inside as a UnicodeEncodeError (as the `KEY=VALUE` form says)."""
    code = lone_surrogate(text)
    if code is not None:
        raise TypeError(f"not valid Unicode text (lone surrogate U+{code:04X})")
    return text if type(text) is str else str(text)


@dataclass
class Override:
    """One `--set KEY=VALUE` (or `--seed N`), and once applied, the field path it set."""

    said: str  # how the user wrote it: "--set optimizer.lr=0.1", "--seed 3"
    parts: tuple[str | int, ...]
    value: Any
    path: str = ""  # the field path as diagnostics write it, once applied ("model.layers[0].units")
    created: str | None = None  # the first mapping or field the override brought into being


def _yaml_value(text: str, said: str) -> Any:
    try:
        docs = load_text(text, said)
    except SpecError as exc:
        raise LockstepError(f"{said}: the value is not YAML ({exc.diagnostics[0].message})") from None
    if len(docs) > 1:
        raise LockstepError(f"{said}: the value holds {len(docs)} YAML documents; give one value")
    return docs[0].data if docs else None


def _short(text: str, limit: int = 120) -> str:
    """An override as messages echo it: a value of a million characters was echoed in full, in every message."""
    return text if len(text) <= limit else f"{text[:limit - 30]}... ({len(text):,} characters)"


def parse_overrides(given: Overrides | str | None, seed: int | None) -> list[Override]:
    """`--set` (a mapping, strings `KEY=VALUE` or one such string) and `--seed` as overrides, in order;
    LockstepError (exit 2) for one that is not a dotted field path and a value."""
    out: list[Override] = []
    if isinstance(given, str):  # one "key=value"
        given = [given]
    if (given is not None and not isinstance(given, (Mapping, Iterable))) or isinstance(given, (bytes, bytearray)):
        raise LockstepError(f"overrides: expected a mapping of field paths to values, or `KEY=VALUE` strings, got "
                            f"{got(given)}")
    if isinstance(given, Mapping):
        items = []
        for k, v in given.items():
            try:
                value = plain(v)
            except TypeError as exc:
                raise LockstepError(escape_text(f"overrides[{k!r}]: {exc}")) from None
            shown = json.dumps(value, ensure_ascii=False, default=str)
            items.append((str(k), value, escape_text(f"--set {_short(f'{k}={shown}')}")))
    else:
        items = []
        for text in given or ():
            if not isinstance(text, str):
                raise LockstepError(f"overrides: expected `KEY=VALUE` strings or a mapping, got {text!r}")
            key, eq, value = text.partition("=")
            said = escape_text(f"--set {_short(text)}")  # echoed in messages: control characters never printed raw
            if not eq or not key.strip():
                raise LockstepError(f"{said}: expected KEY=VALUE, e.g. --set optimizer.learning_rate=0.01")
            items.append((key.strip(), _yaml_value(value, said), said))
    for key, value, said in items:
        try:
            out.append(Override(said, key_parts(key), value))
        except ValueError as exc:
            raise LockstepError(f"{said}: {exc}") from None
    seed = as_integer(seed, "seed", maximum=None)  # the recipe's own seed range is validation's to say
    if seed is not None:
        out.append(Override(f"--seed {seed}", ("seed",), seed))
    return out


def apply(data: Any, change: Override) -> None:
    """Set one override in a recipe's data (a copy), creating the mappings on its path that the file leaves to
    their defaults. LockstepError (exit 2) when the path runs through a value that is not a mapping or a list."""
    try:
        _set(data, change)
    except LockstepError as exc:
        raise LockstepError(escape_text(str(exc))) from None


def _set(data: Any, change: Override) -> None:
    parts, node = list(change.parts), data
    done: list[str | int] = []
    if parts[0] == "model" and len(parts) > 1 and isinstance(data.get("model"), str):
        raise LockstepError(f"{change.said}: the recipe's model is the file `{data['model']}`, which overrides do "
                            "not change; give the model inline in the recipe, or edit that file")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if isinstance(part, str) and digits(part):
                part = parts[i] = int(part)
            if not isinstance(part, int) or not 0 <= part < len(node):
                raise LockstepError(f"{change.said}: `{format_path(done) or 'the recipe'}` is a list of {len(node)} "
                                    f"item{'s' * (len(node) != 1)}; `{part}` is not one of its indexes")
        elif isinstance(node, dict):
            if isinstance(part, int):
                raise LockstepError(f"{change.said}: `{format_path(done)}` is a mapping, not a list")
            if not last and not isinstance(node.get(part), (dict, list)):
                if node.get(part) is not None:
                    raise LockstepError(f"{change.said}: `{format_path([*done, part])}` is {wording.said(node[part])}, "
                                        "not a mapping")
                following = parts[i + 1]
                if isinstance(following, int) or digits(following):  # (it said "is a mapping, not a list")
                    where = format_path([*done, part])
                    raise LockstepError(f"{change.said}: `{where}` is not in the recipe, so it has no item "
                                        f"{following} to set; give the whole list: --set '{where}=[...]'")
                node[part] = {}  # a section left to its defaults: the override spells it out
                change.created = change.created or format_path([*done, part])
            elif last and part not in node:
                change.created = change.created or format_path([*done, part])
        else:
            raise LockstepError(f"{change.said}: `{format_path(done)}` is {wording.said(node)}, not a mapping")
        done.append(part)
        if last:
            node[part] = copy.deepcopy(change.value)
        else:
            node = node[part]
    change.path = format_path(done)


def attribute(d: Diagnostic, changes: list[Override], where: str | None,
              edited: Callable[[Diagnostic], str | None] | None = None) -> Diagnostic:
    """A diagnostic about an overridden field (or one it created) names the override instead of a file
    position; one about a document built in Python names the document (`where`), and one about a loaded
    document's field changed in Python says so (`edited`: how to name it, or None where the file's value stands)
    rather than point at the file's line, which holds the value before the change."""
    def under(path: str, prefix: str | None) -> bool:
        return prefix is not None and (path == prefix or path.startswith((prefix + ".", prefix + "[")))

    for c in reversed(changes):  # the last override of a field is the one that stands
        if under(d.path, c.path) or under(d.path, c.created):
            return UnlocatedDiagnostic.of(d, c.said, named=d.path == c.path)
    if where is not None:
        return UnlocatedDiagnostic.of(d, where)
    said = edited(d) if edited is not None else None
    return UnlocatedDiagnostic.of(d, said) if said else d


@dataclass
class EffectiveRecipe:
    """A recipe as a run sees it: validated, overrides applied, its model resolved (`resolved` keeps where each
    field of the recipe and of its model was written)."""

    recipe: Recipe
    model: Model
    base: Path  # what its relative paths resolve against
    path: Path | None  # its file, if it has one
    label: str  # how messages name it
    changes: list[Override]
    resolved: Resolved = field(repr=False)

    @property
    def model_dir(self) -> Path:
        """What the model's relative paths (its weights file) resolve against: the model file's folder."""
        return self.resolved.model.base_dir if self.resolved.model is not None else self.base


def _problems(what: str, n: int) -> str:
    return f"{what} is not valid ({n} problem{'s' * (n > 1)})"


def read(path: PathLike, overrides: Overrides | str | None = None, seed: int | None = None) -> EffectiveRecipe:
    """The recipe file at `path` with `overrides` and `seed` applied; RunError (exit 2) with the diagnostics when
    it, its model or an override is not valid, or when the file holds no Recipe or several."""
    changes = _checked(overrides, seed)
    path = Path(path)
    try:  # a name too long for the OS: an OSError from is_file
        found, exists = path.is_file(), path.exists()
    except OSError as exc:
        raise RunError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not found:
        raise RunError(f"{path}: no such recipe file" if not exists else f"{path}: not a file")
    try:
        docs = load_file(path)
    except SpecError as exc:
        raise RunError(f"{path}: {_problems('the recipe', len(exc.diagnostics))}", 2, exc.diagnostics) from None
    return _resolve(docs, changes, base=path.parent, label=str(path), path=path, where=None)


def from_documents(docs: list[LoadedDocument], *, base: Path, label: str, path: Path | None = None,
                   where: str | None = None, overrides: Overrides | str | None = None, seed: int | None = None,
                   edited: Callable[[Diagnostic], str | None] | None = None) -> EffectiveRecipe:
    """`read` for documents already loaded (a `lockstep.spec.Recipe` given to the API): relative paths resolve
    against `base`, messages name `label`, and `where` (when given) replaces a file position in diagnostics;
    `edited` names a diagnostic's field changed in Python since the file was read (`attribute`)."""
    return _resolve(docs, _checked(overrides, seed), base=base, label=label, path=path, where=where, edited=edited)


def _checked(overrides: Overrides | str | None, seed: int | None) -> list[Override]:
    return parse_overrides(overrides, seed)


def check_memory_limit() -> None:
    """LOCKSTEP_MEMORY_LIMIT as every command reads it (run, compare, deploy, validate): one that is not a size is
    a usage error naming the variable, RunError with exit code 2 and no file or line (no document is at fault)."""
    if (problem := resources.memory_limit_problem()) is not None:
        raise RunError(problem, 2)


def _resolve(docs: list[LoadedDocument], changes: list[Override], *, base: Path, label: str, path: Path | None,
             where: str | None, edited: Callable[[Diagnostic], str | None] | None = None) -> EffectiveRecipe:
    targets = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == "Recipe"]
    if changes:
        if len(targets) != 1:
            raise RunError(f"{label}: expected exactly one Recipe document, found {len(targets)}")
        targets[0].data = copy.deepcopy(targets[0].data)
        for c in changes:
            apply(targets[0].data, c)
    check_memory_limit()  # it was reported as a problem at line 1 of the model file, "the recipe is not valid"
    valid, problems = resolve_documents(docs, base_dir=base)
    diags = [attribute(p, changes, where, edited) for p in problems]
    if diags:
        said = f" with {', '.join(c.said for c in changes)}" if changes else ""  # a file's problem may be theirs
        raise RunError(f"{label}{said}: {_problems('the recipe', len(diags))}", 2, diags)
    recipes = [r for r in valid if isinstance(r.document, Recipe)]
    if len(recipes) != 1:
        raise RunError(f"{label}: expected exactly one Recipe document, found {len(recipes)}")
    resolved = recipes[0]
    if resolved.model is None:  # pragma: no cover - a recipe is valid only with a valid model
        raise RunError(f"{label}: the recipe's model is not valid", 2)
    return EffectiveRecipe(resolved.document, resolved.model.document, base, path, label, changes,  # type: ignore[arg-type]
                           resolved)


RESOLVED = "recipe.resolved.yaml"
"""The effective recipe a run folder holds beside its report (`resolved_yaml`)."""

_FIRST = ("apiVersion", "kind", "metadata", "type", "name")


def ordered(value: Any) -> Any:
    """Mappings with `apiVersion`, `kind`, `metadata`, `type` and `name` first (as people write them)."""
    if isinstance(value, dict):
        keys = [k for k in _FIRST if k in value] + [k for k in value if k not in _FIRST]
        return {k: ordered(value[k]) for k in keys}
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def resolved_yaml(eff: EffectiveRecipe) -> str:
    """recipe.resolved.yaml: the effective recipe, every default filled in, the model inline; a comment header
    says where it came from and which overrides made it (each on a line of its own, control characters escaped)."""
    from lockstep.spec.loader import dump_yaml

    data = eff.recipe.model_dump(mode="json", exclude_none=True)
    data["model"] = eff.model.model_dump(mode="json", exclude_none=True)
    weights = data["model"].get("weights")
    if isinstance(weights, dict) and isinstance(weights.get("path"), str) and not Path(weights["path"]).is_absolute():
        # written beside a model file of its own: said from the recipe's folder, where the inline model now is
        weights["path"] = Path(os.path.relpath(eff.model_dir.absolute() / weights["path"], eff.base.absolute())
                               ).as_posix()
    source = str(eff.path.resolve()) if eff.path is not None else eff.label
    lines = ["The recipe this run trained (lockstep run): every default filled in, its model inline.",
             f"From: {source}", f"Relative paths in it (data, weights) are relative to {eff.base.resolve()}"]
    lines += [f"Override: {c.said}" for c in eff.changes] or ["Overrides: none"]
    return "".join(f"# {escape_text(line)}\n" for line in lines) + dump_yaml(ordered(data))
