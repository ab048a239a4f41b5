"""Version migrations: transforms keyed by spec version, run before validation.

A document written against an older version is rewritten step by step to the current one, so the
validator, the reference and the adapters only ever see the current spec. `lockstep migrate` writes
the result back. See docs/versioning.md for the policy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

CURRENT = "lockstep/v1"

Transform = Callable[[dict[str, Any]], dict[str, Any]]
_REGISTRY: dict[str, tuple[str, Transform]] = {}  # from-version -> (to-version, transform)


def migration(source: str, target: str) -> Callable[[Transform], Transform]:
    def register(fn: Transform) -> Transform:
        if source in _REGISTRY:
            raise ValueError(f"a migration from {source} is already registered")
        _REGISTRY[source] = (target, fn)
        return fn
    return register


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Apply the chain of transforms from the document's version to CURRENT (a copy; input untouched)."""
    data = copy.deepcopy(data)
    seen = set()
    while data.get("apiVersion") in _REGISTRY:
        version = data["apiVersion"]
        if version in seen:  # pragma: no cover - a registry bug, not user input
            raise RuntimeError(f"migration cycle at {version}")
        seen.add(version)
        target, fn = _REGISTRY[version]
        data = fn(data)
        data["apiVersion"] = target
    return data


@migration("lockstep/v1alpha1", "lockstep/v1")
def _v1alpha1_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """The pre-release v1alpha1 wrote `lr` for `learning_rate` and `clip_norm: X` for
    `gradient_clipping: {type: global_norm, max_norm: X}` in recipes."""
    opt = doc.get("optimizer")
    if isinstance(opt, dict) and "lr" in opt and "learning_rate" not in opt:
        opt["learning_rate"] = opt.pop("lr")
    if doc.get("kind") == "Recipe" and "clip_norm" in doc:
        doc["gradient_clipping"] = {"type": "global_norm", "max_norm": doc.pop("clip_norm")}
    return doc


MIGRATABLE = frozenset(_REGISTRY)
