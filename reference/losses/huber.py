"""huber: with d = y − t, ℓ = ½ d² if |d| ≤ δ else δ (|d| − ½ δ), per element, then reduced.

∂ℓ/∂y = clip(d, −δ, δ) (continuous at |d| = δ, so no tie rule is needed).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import element_target, reduce
from lockstep.reference.losses._rules import Terms, element_length, element_terms, never
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


# ----------------------------------------------------------- float32 rules (reference/losses/_rules.py)
length = element_length
singular = never


def terms(loss: Huber, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray) -> Terms:
    """Quadratic side: ½d² + |d||t|, ∂ℓ/∂y = d; linear side: δ(|d| + ½δ) + δ|t|, ∂ℓ/∂y = ±δ."""
    delta = loss.delta

    def per(y: np.ndarray, t: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = y - t
        quad = np.abs(d) <= delta
        own = np.where(quad, 0.5 * d * d + np.abs(d) * np.abs(t), delta * (np.abs(d) + 0.5 * delta) + delta * np.abs(t))
        return own, np.where(quad, np.maximum(a, np.abs(d) + np.abs(t)), delta)

    return element_terms(loss, prediction, target, a_pred, per)
