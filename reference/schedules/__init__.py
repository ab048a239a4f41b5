"""The reference learning-rate schedules, one module per spec `type`, evaluated per optimizer step.

Warm-up (any schedule): for t < W, lr = base (f + (1 - f) t / W); afterwards the schedule runs on t - W.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TYPES = ("constant", "step", "exponential", "cosine")


def get(type_name: str) -> ModuleType:
    if type_name not in TYPES:
        raise KeyError(f"no reference implementation for schedule `{type_name}`")
    return importlib.import_module(f"lockstep.reference.schedules.{type_name}")


def learning_rate(schedule, base: float, t: int) -> float:
    """The learning rate of optimizer step t (0-based)."""
    w = schedule.warmup
    if w is not None:
        if t < w.steps:
            return base * (w.start_factor + (1 - w.start_factor) * t / w.steps)
        t -= w.steps
    return get(schedule.type).learning_rate(schedule, base, t)
