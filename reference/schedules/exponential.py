"""exponential: lr(t) = base · γ^t, evaluated in closed form (not as t repeated multiplications)."""

from __future__ import annotations

from typing import Any

from lockstep.reference.schedules._ops import SCALAR
from lockstep.spec.schedules import Exponential


def learning_rate(schedule: Exponential, base: float, t: Any, ops: Any = SCALAR) -> Any:
    return base * ops.power(schedule.gamma, t)
