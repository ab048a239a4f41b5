"""The reference learning-rate schedules, one module per spec `type`, evaluated once per optimizer step.

t counts optimizer steps from 0 (the step that performs update number t + 1 uses lr(t)); epochs never
enter. Warm-up (any schedule) of W steps from factor f:

    t < W:   lr(t) = base · (f + (1 − f) · t / W)
    t ≥ W:   lr(t) = schedule(t − W)

so lr(W) = schedule(0) = base for every schedule: the warm-up ramps to, and never past, base.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lockstep.spec.schedules import Schedule

TYPES = ("constant", "step", "exponential", "cosine")


def get(type_name: str) -> ModuleType:
    """The module `reference/schedules/<type>.py` with `learning_rate(schedule, base, t)`."""
    if type_name not in TYPES:
        raise KeyError(f"no reference implementation for schedule `{type_name}`")
    return importlib.import_module(f"lockstep.reference.schedules.{type_name}")


def learning_rate(schedule: Schedule, base: float, t: int) -> float:
    """The learning rate of optimizer step t (0-based), warm-up included."""
    if t < 0:
        raise ValueError(f"schedule steps count from 0, got t={t}")
    w = schedule.warmup
    if w is not None:
        if t < w.steps:
            return base * (w.start_factor + (1.0 - w.start_factor) * t / w.steps)
        t -= w.steps
    return float(get(schedule.type).learning_rate(schedule, base, t))
