"""nll: ℓ = −y[target] per position, y holding log-probabilities (e.g. from log_softmax), integer
targets; reduced over positions. ∂ℓ/∂y = −one_hot(target). No smoothing, no normalization check."""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import class_indices, one_hot, reduce
from lockstep.spec.losses import NLL


def forward(loss: NLL, prediction: np.ndarray, target: np.ndarray) -> tuple[float, tuple[np.ndarray, float]]:
    oh = one_hot(class_indices(prediction, target), prediction.shape[-1])
    value, scale = reduce(-(oh * prediction).sum(axis=-1), loss.reduction)
    return value, (oh, scale)


def backward(loss: NLL, cache: tuple[np.ndarray, float]) -> np.ndarray:
    oh, scale = cache
    return -oh * scale
