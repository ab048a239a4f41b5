"""exponential: lr(t) = base · γ^t, evaluated in closed form (not as t repeated multiplications)."""

from __future__ import annotations

from lockstep.spec.schedules import Exponential


def learning_rate(schedule: Exponential, base: float, t: int) -> float:
    return base * schedule.gamma**t
