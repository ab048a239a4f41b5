"""Every construct name of spec v1, read off the pydantic models (their `type` literals), so that adapters,
the reference and the conformance suite answer `support()` from one list that cannot drift from the spec."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import get_args


def _types(*modules: ModuleType) -> set[str]:
    found: set[str] = set()
    for module in modules:
        for obj in vars(module).values():
            field = getattr(obj, "model_fields", {}).get("type") if isinstance(obj, type) else None
            if field is not None:
                found.update(a for a in get_args(field.annotation) if isinstance(a, str))
    return found


@functools.cache
def construct_names() -> tuple[frozenset[str], frozenset[str]]:
    """(constructs a backend runs: layers, losses, optimizers, schedules, clipping, `warmup`, `l2`;
    constructs the standard prepares before any backend sees them: data sources, preprocessing, initializers)."""
    from lockstep.spec import data, initializers, losses, optimizers, schedules
    from lockstep.spec.layers import LAYER_TYPES

    run = {*LAYER_TYPES, *_types(losses, optimizers, schedules), "warmup", "l2"}
    return frozenset(run), frozenset(_types(data, initializers) - run)
