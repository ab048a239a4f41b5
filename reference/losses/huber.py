"""huber: with d = y − t, ℓ = ½ d² if |d| ≤ δ else δ (|d| − ½ δ), per element, then reduced.

∂ℓ/∂y = clip(d, −δ, δ) (continuous at |d| = δ, so no tie rule is needed).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import element_target, reduce
from lockstep.spec.losses import Huber


def forward(loss: Huber, prediction: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, float]]:
    d = prediction - element_target(prediction, target)
    a, delta = np.abs(d), loss.delta
    per = np.where(a <= delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    value, scale = reduce(per, loss.reduction)
    return value, (d, scale)


def backward(loss: Huber, cache: tuple[np.ndarray, float]) -> np.ndarray:
    d, scale = cache
    return np.clip(d, -loss.delta, loss.delta) * scale
