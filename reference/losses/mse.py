"""mse: ℓ = (y − t)² per element, reduced by mean (over every element) or sum.

∂ℓ/∂y = 2 (y − t).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import element_target, reduce
from lockstep.spec.losses import MSE


def forward(loss: MSE, prediction: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, float]]:
    d = prediction - element_target(prediction, target)
    value, scale = reduce(d * d, loss.reduction)
    return value, (d, scale)


def backward(loss: MSE, cache: tuple[np.ndarray, float]) -> np.ndarray:
    d, scale = cache
    return 2.0 * d * scale
