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

import copy
import itertools
from collections.abc import Callable
from typing import Any

from lockstep.spec.base import API_VERSION, SUPPORTED_VERSIONS

CURRENT = API_VERSION

Transform = Callable[[dict[str, Any]], dict[str, Any]]
_REGISTRY: dict[str, tuple[str, Transform]] = {}  # source version -> (target version, transform)
MIGRATABLE: frozenset[str] = frozenset()  # kept equal to the registry's sources by `migration`


def migration(source: str, target: str) -> Callable[[Transform], Transform]:
    """Register `fn(document) -> document` as the one step from `source` to `target`.

    The transform gets a private deep copy of one document (a mapping) and may change it in place;
    it must not set `apiVersion` (the chain does) and must leave anything it does not understand as
    it is, so that validation can report it.
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


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """The document rewritten to the current version (a copy; the input is never modified).

    Documents of a current, unknown or missing version come back unchanged (validation reports the
    last two). A recipe's inline model is migrated by its own `apiVersion`.
    """
    data = copy.deepcopy(data)
    version = _version(data)
    if version in MIGRATABLE:
        steps = chain(version)  # type: ignore[arg-type]
        for source, target in itertools.pairwise(steps):
            data = _REGISTRY[source][1](data)
            data["apiVersion"] = target
    if isinstance(data, dict) and _version(data.get("model")) in MIGRATABLE:
        data["model"] = migrate(data["model"])
    return data


def rename_key(mapping: dict[str, Any], old: str, new: str, value: Callable[[Any], Any] = lambda v: v) -> None:
    """Rename a key in place, keeping its position (migrated files stay in the order people wrote)."""
    if old not in mapping or new in mapping:
        return
    items = [(new, value(v)) if k == old else (k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


# ------------------------------------------------------------------------------------ registered steps
_V1ALPHA1_EPSILON = ("adam", "adamw", "rmsprop", "adagrad")


@migration("lockstep/v1alpha1", "lockstep/v1")
def _v1alpha1_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """lockstep/v1alpha1 was the pre-release of v1 (never published; the example that keeps this
    mechanism tested). It differed from v1 in recipes only:

    - optimizer `lr` became `learning_rate`;
    - optimizer `eps` (adam, adamw, rmsprop, adagrad) became `epsilon`;
    - the recipe-level `clip_norm: X` became `gradient_clipping: {type: global_norm, max_norm: X}`.
    """
    opt = doc.get("optimizer")
    if isinstance(opt, dict):
        rename_key(opt, "lr", "learning_rate")
        if opt.get("type") in _V1ALPHA1_EPSILON:
            rename_key(opt, "eps", "epsilon")
    if doc.get("kind") == "Recipe":
        rename_key(doc, "clip_norm", "gradient_clipping", lambda v: {"type": "global_norm", "max_norm": v})
    return doc
