"""cosine: lr(t) = min + (base − min) · (1 + cos(π · min(t, T) / T)) / 2, T = decay_steps.

Held at `min` (an absolute learning rate, not a fraction of base) from t = T on; torch's
CosineAnnealingLR would rise again after T, Keras's CosineDecay holds at alpha · base.
"""

from __future__ import annotations

import math
from typing import Any

from lockstep.reference.schedules._ops import SCALAR
from lockstep.spec.schedules import Cosine


def learning_rate(schedule: Cosine, base: float, t: Any, ops: Any = SCALAR) -> Any:
    lo, big_t = schedule.min_learning_rate, schedule.decay_steps
    return lo + (base - lo) * (1.0 + ops.cos(math.pi * ops.minimum(t, big_t) / big_t)) / 2.0
