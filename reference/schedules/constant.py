"""constant: lr(t) = base."""

from __future__ import annotations

from typing import Any

from lockstep.reference.schedules._ops import SCALAR
from lockstep.spec.schedules import Constant


def learning_rate(schedule: Constant, base: float, t: Any, ops: Any = SCALAR) -> Any:
    return ops.constant(base)
