"""mse: ℓ = (y − t)² per element, reduced by mean (over every element) or sum.

∂ℓ/∂y = 2 (y − t).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import element_target, reduce
from lockstep.reference.losses._rules import Terms, element_length, element_terms, never
from lockstep.spec.losses import MSE


def forward(loss: MSE, prediction: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, float]]:
    d = prediction - element_target(prediction, target)
    value, scale = reduce(d * d, loss.reduction)
    return value, (d, scale)


def backward(loss: MSE, cache: tuple[np.ndarray, float]) -> np.ndarray:
    d, scale = cache
    return 2.0 * d * scale


# ----------------------------------------------------------- float32 rules (reference/losses/_rules.py)
length = element_length
singular = never


def terms(loss: MSE, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray) -> Terms:
    """own: d² + 2|d||t|; ∂ℓ/∂y = 2d: 2·max(A_y, |d| + |t|)."""
    def per(y: np.ndarray, t: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = y - t
        return d * d + 2.0 * np.abs(d) * np.abs(t), 2.0 * np.maximum(a, np.abs(d) + np.abs(t))

    return element_terms(loss, prediction, target, a_pred, per)
