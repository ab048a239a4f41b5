"""constant: lr(t) = base."""

from __future__ import annotations

from lockstep.spec.schedules import Constant


def learning_rate(schedule: Constant, base: float, t: int) -> float:
    return float(base)
