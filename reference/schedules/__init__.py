"""The reference learning-rate schedules, one module per spec `type`, evaluated once per optimizer step.

t counts optimizer steps from 0 (the step that performs update number t + 1 uses lr(t)); epochs never
enter. A schedule's `warmup` comes first (reference/schedules/warmup.py). Each formula is written once, in
the arithmetic of reference/schedules/_ops.py, so that a framework evaluating it in its own graph calls it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from lockstep.reference.schedules import warmup as _warmup
from lockstep.reference.schedules._ops import SCALAR
from lockstep.spec import constructs
from lockstep.spec.schedules import Schedule

TYPES = constructs.names("schedule")


def get(type_name: str) -> ModuleType:
    """The module `reference/schedules/<type>.py` with `learning_rate(schedule, base, t, ops=SCALAR)`."""
    if type_name not in TYPES:
        raise KeyError(f"no reference implementation for schedule `{type_name}`")
    return constructs.get(type_name, "schedule").load("reference")


def learning_rate(schedule: Schedule, base: float, t: Any, ops: Any = SCALAR) -> Any:
    """The learning rate of optimizer step t (0-based), warm-up included: a float, or with another `ops`
    (reference/schedules/_ops.py) that arithmetic's value, e.g. a float64 tensor in a TensorFlow graph."""
    if ops is SCALAR and t < 0:
        raise ValueError(f"schedule steps count from 0, got t={t}")
    main = get(schedule.type).learning_rate
    w = schedule.warmup
    if w is None:
        value = main(schedule, base, t, ops)
    else:
        value = ops.select(t < w.steps, lambda: base * _warmup.factor(w, t),
                           lambda: main(schedule, base, ops.maximum(t - w.steps, 0.0), ops))
    return float(value) if ops is SCALAR else value
