"""nll: ℓ = −y[target] per position, y holding log-probabilities (e.g. from log_softmax), integer
targets; reduced over positions. ∂ℓ/∂y = −one_hot(target). No smoothing, no normalization check."""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import class_indices, one_hot, reduce
from lockstep.reference.losses._rules import Terms, class_length, never
from lockstep.spec.losses import NLL


def forward(loss: NLL, prediction: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, float]]:
    oh = one_hot(class_indices(prediction, target), prediction.shape[-1])
    value, scale = reduce(-(oh * prediction).sum(axis=-1), loss.reduction)
    return value, (oh, scale)


def backward(loss: NLL, cache: tuple[np.ndarray, float]) -> np.ndarray:
    oh, scale = cache
    return -oh * scale


# ----------------------------------------------------------- float32 rules (reference/losses/_rules.py)
length = class_length
singular = never


def terms(loss: NLL, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray) -> Terms:
    """own: |y[target]|; ∂ℓ/∂y = −one_hot, exact."""
    y = np.asarray(prediction, dtype=np.float64)
    oh = one_hot(class_indices(y, target), y.shape[-1])
    scale = 1.0 / (y.size // y.shape[-1]) if loss.reduction == "mean" else 1.0
    return float(scale * np.sum(oh * np.abs(y))), scale * oh
