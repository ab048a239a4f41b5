"""Learning rate per optimizer step. torch's CosineAnnealingLR is recursive and periodic past T_max
(the standard holds at the minimum) and LinearLR rejects a start factor of 0, so instead of chaining
schedulers the session sets each step's rate from the standard's closed forms (what a torch
LambdaLR does), evaluated in Python float64."""

from __future__ import annotations

import math


def factor(schedule, base: float, t: int) -> float:
    """lr(t) for optimizer step t (0-based)."""
    w = schedule.warmup
    if w is not None:
        if t < w.steps:
            return base * (w.start_factor + (1 - w.start_factor) * t / w.steps)
        t -= w.steps
    k = schedule.type
    if k == "constant":
        return base
    if k == "step":
        return base * schedule.gamma ** (t // schedule.step_size)
    if k == "exponential":
        return base * schedule.gamma**t
    lo, big_t = schedule.min_learning_rate, schedule.decay_steps
    return lo + (base - lo) * (1 + math.cos(math.pi * min(t, big_t) / big_t)) / 2
