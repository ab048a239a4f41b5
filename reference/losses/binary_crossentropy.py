"""binary_crossentropy: ℓ = −(t log p + (1 − t) log(1 − p)) per element, then reduced.

Label smoothing first: t ← t (1 − s) + s/2.
From logits (p = σ(y)) the stable form ℓ = softplus(y) − t y is used, ∂ℓ/∂y = σ(y) − t.
From probabilities nothing is clipped: p must lie in [0, 1], a term whose weight (t or 1 − t) is 0
contributes 0 (0 log 0 = 0), and a 0 or 1 against a nonzero weight gives +inf, which the runner
reports as a non-finite loss. ∂ℓ/∂p = −t/p + (1 − t)/(1 − p), each term 0 where its weight is 0.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import element_target, reduce, sigmoid, smooth, softplus, xdivy, xlogy
from lockstep.spec.losses import BinaryCrossentropy

Cache = tuple[np.ndarray, np.ndarray, float]


def forward(loss: BinaryCrossentropy, prediction: np.ndarray, target: np.ndarray) -> tuple[float, Cache]:
    y = prediction
    t = smooth(element_target(y, target), loss.label_smoothing, 2)
    per = softplus(y) - t * y if loss.from_logits else -(xlogy(t, y) + xlogy(1.0 - t, 1.0 - y))
    value, scale = reduce(per, loss.reduction)
    return value, (y, t, scale)


def backward(loss: BinaryCrossentropy, cache: Cache) -> np.ndarray:
    y, t, scale = cache
    if loss.from_logits:
        return (sigmoid(y) - t) * scale
    return (xdivy(1.0 - t, 1.0 - y) - xdivy(t, y)) * scale
