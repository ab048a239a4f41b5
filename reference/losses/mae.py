"""mae: ℓ = |y − t| per element, reduced by mean (over every element) or sum.

∂ℓ/∂y = sign(y − t), and the standard fixes the subgradient at y = t to 0 (as torch's L1Loss does),
so an exact fit stays put.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import element_target, reduce
from lockstep.reference.losses._rules import Terms, element_length, element_terms, never
from lockstep.reference.tolerances import kink_error
from lockstep.spec.losses import MAE


def forward(loss: MAE, prediction: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, float]]:
    d = prediction - element_target(prediction, target)
    value, scale = reduce(np.abs(d), loss.reduction)
    return value, (d, scale)


def backward(loss: MAE, cache: tuple[np.ndarray, float]) -> np.ndarray:
    d, scale = cache
    return np.sign(d) * scale  # np.sign(0) == 0


# ----------------------------------------------------------- float32 rules (reference/losses/_rules.py)
length = element_length
singular = never


def terms(loss: MAE, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray) -> Terms:
    """own: |d| + |t|; ∂ℓ/∂y = sign(d): ±1 exactly on the reference's side of the kink."""
    def per(y: np.ndarray, t: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = y - t
        return np.abs(d) + np.abs(t), (d != 0).astype(np.float64)

    return element_terms(loss, prediction, target, a_pred, per)


def branch_error(loss: MAE, prediction: np.ndarray, target: np.ndarray, error: np.ndarray, grad: np.ndarray,
                 u: float) -> np.ndarray | None:
    """A d = y − t within its error bound of 0 (y's, and t's rounding to the dtype), but not 0, may take the
    other sign or 0 in float32: its gradient may move by 2|g|."""
    t = element_target(prediction, target)
    return kink_error(prediction - t, error + 2.0 * u * np.abs(t), 2.0 * np.abs(grad))
