"""step: lr(t) = base · γ^⌊t / step_size⌋ (torch's StepLR; Keras's ExponentialDecay with staircase=True)."""

from __future__ import annotations

from lockstep.spec.schedules import Step


def learning_rate(schedule: Step, base: float, t: int) -> float:
    return base * schedule.gamma ** (t // schedule.step_size)
