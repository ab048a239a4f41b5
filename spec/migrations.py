"""Version migrations: transforms keyed by spec version, run before validation.

A document written against an older version is rewritten step by step to the current one, so the
validator, the reference and the adapters only ever see the current spec. `lockstep migrate` writes
the result back to disk. See docs/versioning.md for the policy.

    @migration("lockstep/v1alpha1", "lockstep/v1")
    def _v1alpha1_to_v1(doc: dict) -> dict: ...

`SUPPORTED_VERSIONS` (spec/base.py) are the versions the models validate natively; `MIGRATABLE` are
the older versions this release still reads, through the chain of registered transforms.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.spec.base import API_VERSION, SUPPORTED_VERSIONS
from lockstep.spec.diagnostics import key_part

if TYPE_CHECKING:
    from lockstep.spec.diagnostics import Diagnostic
    from lockstep.spec.loader import LoadedDocument

CURRENT = API_VERSION

Transform = Callable[[dict[str, Any]], dict[str, Any]]
PathParts = tuple[str | int, ...]
Move = tuple[PathParts, PathParts]  # (where a field was written, where the migrated document has it)
_REGISTRY: dict[str, tuple[str, Transform]] = {}  # source version -> (target version, transform)
MIGRATABLE: frozenset[str] = frozenset()  # kept equal to the registry's sources by `migration`


def migration(source: str, target: str) -> Callable[[Transform], Transform]:
    """Register `fn(document) -> document` as the one step from `source` to `target`.

    The transform gets a private deep copy of one document (a mapping) and may change it in place;
    it must not set `apiVersion` (the chain does) and must leave anything it does not understand as
    it is, so that validation can report it. Renames go through `rename_key`, so that a diagnostic on
    the new field points at the line where the old one is written.
    """
    if source in SUPPORTED_VERSIONS:
        raise ValueError(f"{source} validates natively; it cannot be a migration source")
    if source == target:
        raise ValueError(f"a migration from {source} to itself")

    def register(fn: Transform) -> Transform:
        global MIGRATABLE
        if source in _REGISTRY:
            raise ValueError(f"a migration from {source} is already registered")
        _REGISTRY[source] = (target, fn)
        MIGRATABLE = frozenset(_REGISTRY)
        return fn

    return register


def chain(version: str) -> list[str]:
    """The versions a document passes through from `version` to the current one, both included.

    Raises ValueError when `version` is neither current nor migratable, or the registry does not
    lead to a supported version.
    """
    path = [version]
    while path[-1] not in SUPPORTED_VERSIONS:
        step = _REGISTRY.get(path[-1])
        if step is None:
            raise ValueError(f"no migration from `{path[-1]}`")
        if step[0] in path:
            raise ValueError(f"migration cycle: {' -> '.join([*path, step[0]])}")
        path.append(step[0])
    return path


def _version(data: Any) -> str | None:
    v = data.get("apiVersion") if isinstance(data, dict) else None
    return v if isinstance(v, str) else None


def needs_migration(data: Any) -> bool:
    """Whether `migrate` would change this document (or the Model written inline in a recipe)."""
    if _version(data) in MIGRATABLE:
        return True
    return isinstance(data, dict) and _version(data.get("model")) in MIGRATABLE


def outdated_versions(data: Any) -> list[str]:
    """The versions `migrate` would move this document from: its own, and its inline model's ("from lockstep/v1
    to lockstep/v1" was said of a current recipe holding an old inline model)."""
    found = [v for v in (_version(data), _version(data.get("model")) if isinstance(data, dict) else None)
             if v in MIGRATABLE]
    return list(dict.fromkeys(found))


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """The document rewritten to the current version (a copy; the input is never modified).

    Documents of a current, unknown or missing version come back unchanged (validation reports the
    last two). A recipe's inline model is migrated by its own `apiVersion`.
    """
    return _migrate(data, record=False)[0]


def migrate_document(doc: LoadedDocument) -> list[Move]:
    """Migrate `doc.data` and move the recorded positions of renamed fields with them; the renames, as
    (old field path, new field path), so that a message can say the name the file has.

    Without the move, a diagnostic on `optimizer.learning_rate` would point at the enclosing mapping
    (or the document's first line), since `learning_rate` is written nowhere in the file: the user
    must be sent to the line where `lr` is.
    """
    doc.data, moves = _migrate(doc.data, record=True)
    for table in (getattr(doc, "positions", None), getattr(doc, "key_positions", None)):
        if isinstance(table, dict):
            for old, new in moves:
                _move(table, old, new)
    return moves


# (mapping, old key, new key) of each `rename_key` during one recorded step; None when not recording
_RENAMED: ContextVar[list[tuple[dict[str, Any], str, str]] | None] = ContextVar("lockstep_renamed", default=None)


def _migrate(data: Any, record: bool) -> tuple[Any, list[Move]]:
    """The migrated copy, and (when `record`) every rename as a move of field paths, in order."""
    data = copy.deepcopy(data)
    moves: list[Move] = []
    version = _version(data)
    if version in MIGRATABLE:
        steps = chain(version)  # type: ignore[arg-type]
        for source, target in itertools.pairwise(steps):
            renamed: list[tuple[dict[str, Any], str, str]] = []
            token = _RENAMED.set(renamed if record else None)
            try:
                data = _REGISTRY[source][1](data)
            finally:
                _RENAMED.reset(token)
            data["apiVersion"] = target
            moves.extend(_paths_of(data, renamed))
    if isinstance(data, dict) and _version(data.get("model")) in MIGRATABLE:
        data["model"], inner = _migrate(data["model"], record)
        moves.extend((("model", *old), ("model", *new)) for old, new in inner)
    return data, moves


def _paths_of(data: Any, renamed: list[tuple[dict[str, Any], str, str]]) -> list[Move]:
    """Each rename of one step as (old path, new path), found by where its mapping sits after the step;
    a renamed mapping's own move comes before its fields' (shorter paths first)."""
    if not renamed:
        return []
    wanted = {id(m) for m, _, _ in renamed}
    where: dict[int, PathParts] = {}
    seen: set[int] = set()
    stack: list[tuple[PathParts, Any]] = [((), data)]
    while stack:  # iterative, like the loader: deep data never meets the recursion limit
        path, node = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:  # shared (built in Python, not loaded): its first place is enough
                continue
            seen.add(id(node))
        if isinstance(node, dict):
            if id(node) in wanted:
                where.setdefault(id(node), path)
            stack.extend(((*path, key_part(k)), v) for k, v in node.items())  # as the loader's paths
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    moves = [((*where[id(m)], old), (*where[id(m)], new)) for m, old, new in renamed if id(m) in where]
    return sorted(moves, key=lambda move: len(move[0]))


def _move(table: dict[PathParts, tuple[int, int]], old: PathParts, new: PathParts) -> None:
    """Re-key the position of `old` and of everything under it to `new`."""
    n = len(old)
    for key in [k for k in table if k[:n] == old]:
        table[(*new, *key[n:])] = table.pop(key)


def rename_key(mapping: dict[str, Any], old: str, new: str, value: Callable[[Any], Any] = lambda v: v) -> None:
    """Rename a key in place, keeping its position (migrated files stay in the order people wrote) and,
    during `migrate_document`, where it was written (diagnostics on the new key point at the old one)."""
    if old not in mapping or new in mapping:
        return
    items = [(new, value(v)) if k == old else (k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)
    renamed = _RENAMED.get()
    if renamed is not None:
        renamed.append((mapping, old, new))


# ------------------------------------------------------------------------------------ registered steps
_V1ALPHA1_EPSILON = ("adam", "adamw", "rmsprop", "adagrad")


@migration("lockstep/v1alpha1", "lockstep/v1")
def _v1alpha1_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """lockstep/v1alpha1 was the pre-release of v1 (never published; the example that keeps this
    mechanism tested). It differed from v1 in recipes only:

    - optimizer `lr` became `learning_rate`;
    - optimizer `eps` (adam, adamw, rmsprop, adagrad) became `epsilon`;
    - the recipe-level `clip_norm: X` became `gradient_clipping: {type: global_norm, max_norm: X}`, and
      `clip_norm: null` (no clipping, as no `clip_norm`: an optional field's null is its absence, in v1alpha1 as
      in v1) `gradient_clipping: null`.
    """
    opt = doc.get("optimizer")
    if isinstance(opt, dict):
        rename_key(opt, "lr", "learning_rate")
        if opt.get("type") in _V1ALPHA1_EPSILON:
            rename_key(opt, "eps", "epsilon")
    if doc.get("kind") == "Recipe":
        rename_key(doc, "clip_norm", "gradient_clipping",
                   lambda v: None if v is None else {"type": "global_norm", "max_norm": v})
    return doc


# ------------------------------------------------------------------------------- files a document names
_PATH_SOURCES = ("npz", "csv")  # the data sources read from a file


def named_files(data: Any) -> list[tuple[PathParts, str]]:
    """(field, path as written) of each file a document names, all relative to the document's own folder:
    a recipe's model file and data file, a model's weights (an inline model's too). Fields that are not
    strings are skipped: validation reports them."""
    found: list[tuple[PathParts, str]] = []

    def add(field: PathParts, value: Any) -> None:
        if isinstance(value, str) and value:
            found.append((field, value))

    def weights(model: Any, prefix: PathParts) -> None:
        w = model.get("weights") if isinstance(model, dict) else None
        if isinstance(w, dict):
            add((*prefix, "weights", "path"), w.get("path"))

    if not isinstance(data, dict):
        return found
    if data.get("kind") == "Recipe":
        model = data.get("model")
        if isinstance(model, dict):
            weights(model, ("model",))
        else:
            add(("model",), model)
        section = data.get("data")
        source = section.get("source") if isinstance(section, dict) else None
        if isinstance(source, dict) and source.get("type") in _PATH_SOURCES:
            add(("data", "source", "path"), source.get("path"))
    elif data.get("kind") == "Model":
        weights(data, ())
    return found


def companions(doc: LoadedDocument, source: Path, target: Path
               ) -> tuple[list[tuple[PathParts, Path, Path]], list[Diagnostic]]:
    """(field, file to read, where its copy goes) for each file that `doc`, read from `source` and written to
    `target`, names: the copy must find them where the original did (paths are followed as the loader follows
    them: symlinks resolved, and refused when they leave the document's folder). A relative path that leaves
    the folder (allowed by LOCKSTEP_ALLOW_OUTSIDE_PATHS=1) would lead elsewhere from `target`: a Diagnostic at
    its line instead. Absolute paths need no copy; missing files are validation's to report.
    """
    from lockstep.spec.diagnostics import Diagnostic, format_path

    here, there = source.parent, Path(os.path.normpath(target.parent))
    placed: list[tuple[PathParts, Path, Path]] = []
    problems: list[Diagnostic] = []
    for field, written in named_files(doc.data):
        rel = Path(written)
        if rel.is_absolute():
            continue
        try:
            full = (here / rel).resolve()
            inside = full.is_relative_to(here.resolve())
            shown = Path(os.path.normpath(here / rel))  # as the user would name it
            shown = shown if shown.resolve() == full else full
        except (OSError, ValueError, RuntimeError):  # NUL bytes, symlink loops: validation says so
            continue
        dest = Path(os.path.normpath(there / rel))  # where the loader looks from the copy (no symlinks there)
        if not inside or not dest.is_relative_to(there):
            line, col = doc.locate(field)
            problems.append(Diagnostic(doc.file, line, col, format_path(field), f"`{written}` leads out of the folder "
                                       f"of {source.name}, so the copy written to {target} would not find it; copy "
                                       "the file into that folder and name it from there, or migrate in place",
                                       code="path"))
        elif _regular(full):
            placed.append((field, shown, dest))
    return placed, problems


def _regular(path: Path) -> bool:
    """Whether `path` is a regular file; False where it cannot be looked at (a name too long, a folder not open to
    us: pathlib's is_file raises those), which validation reports at the field."""
    try:
        return path.is_file()
    except OSError:
        return False


def copy_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` atomically (a temporary file beside it, renamed over it) and in chunks: a
    weights or data file can be larger than memory should hold. Only a regular file is read."""
    import shutil
    import tempfile

    from lockstep.spec.files import open_regular

    with open_regular(source) as src:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as dst:
                os.fchmod(dst.fileno(), os.fstat(src.fileno()).st_mode & 0o777)
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
