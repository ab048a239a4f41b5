"""step: lr(t) = base · γ^⌊t / step_size⌋ (torch's StepLR; Keras's ExponentialDecay with staircase=True)."""

from __future__ import annotations

from typing import Any

from lockstep.reference.schedules._ops import SCALAR
from lockstep.spec.schedules import Step


def learning_rate(schedule: Step, base: float, t: Any, ops: Any = SCALAR) -> Any:
    return base * ops.power(schedule.gamma, ops.floor(t / schedule.step_size))
