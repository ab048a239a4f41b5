"""cosine: lr(t) = min + (base − min) · (1 + cos(π · min(t, T) / T)) / 2, T = decay_steps.

Held at `min` (an absolute learning rate, not a fraction of base) from t = T on; torch's
CosineAnnealingLR would rise again after T, Keras's CosineDecay holds at alpha · base.
Evaluated as min + (base − min) · sin²(π · (T − min(t, T)) / 2T), the same number without the cancellation of
1 + cos near T (one step before the end of 10⁶ it was 5.7e-6 wrong, of 10⁷ 1e-3), and exact at t = 0 and t ≥ T.
"""

from __future__ import annotations

import math
from typing import Any

from lockstep.reference.schedules._ops import SCALAR
from lockstep.spec.schedules import Cosine


def learning_rate(schedule: Cosine, base: float, t: Any, ops: Any = SCALAR) -> Any:
    lo, big_t = schedule.min_learning_rate, schedule.decay_steps
    half = ops.sin(math.pi * (big_t - ops.minimum(t, big_t)) / (2.0 * big_t))
    return lo + (base - lo) * (half * half)
