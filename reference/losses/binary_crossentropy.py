"""binary_crossentropy: ℓ = −(t log p + (1 − t) log(1 − p)) per element, then reduced.

Label smoothing first: t ← t (1 − s) + s/2.
From logits (p = σ(y)) the stable form ℓ = max(y, 0) − t y + log1p(e^−|y|) is used (its first two terms exact for
t ∈ {0, 1}: softplus(y) − t y cancelled to 0 for t = 1 at y ≥ 37, where ℓ = e^−y), ∂ℓ/∂y = (1 − t) σ(y) − t σ(−y)
(= σ(y) − t, without σ(y) − 1's cancellation).
From probabilities nothing is clipped: p must lie in [0, 1], a term whose weight (t or 1 − t) is 0
contributes 0 (0 log 0 = 0), and a 0 or 1 against a nonzero weight gives +inf, which the runner
reports as a non-finite loss. ∂ℓ/∂p = −t/p + (1 − t)/(1 − p), each term 0 where its weight is 0.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses._common import element_target, reduce, sigmoid, smooth, xdivy, xlog1py, xlogy
from lockstep.reference.losses._rules import Terms, element_length, element_terms
from lockstep.spec.losses import BinaryCrossentropy

Cache = tuple[np.ndarray, np.ndarray, float]


def forward(loss: BinaryCrossentropy, prediction: np.ndarray, target: np.ndarray) -> tuple[float, Cache]:
    y = prediction
    t = smooth(element_target(y, target), loss.label_smoothing, 2)
    if loss.from_logits:
        per = (np.maximum(y, 0.0) - t * y) + np.log1p(np.exp(-np.abs(y)))
    else:  # log(1 − y) as log1p(−y): 1 − y rounds away a small y's digits
        per = -(xlogy(t, y) + xlog1py(1.0 - t, -y))
    value, scale = reduce(per, loss.reduction)
    return value, (y, t, scale)


def backward(loss: BinaryCrossentropy, cache: Cache) -> np.ndarray:
    y, t, scale = cache
    if loss.from_logits:
        return ((1.0 - t) * sigmoid(y) - t * sigmoid(-y)) * scale
    return (xdivy(1.0 - t, 1.0 - y) - xdivy(t, y)) * scale


# ----------------------------------------------------------- float32 rules (reference/losses/_rules.py)
length = element_length


def terms(loss: BinaryCrossentropy, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray) -> Terms:
    """Per element, from logits or from probabilities, against the smoothed target."""
    s = loss.label_smoothing
    return element_terms(loss, prediction, target, a_pred, lambda y, t, a: _per_element(loss, y, smooth(t, s, 2), a))


def singular(loss: BinaryCrossentropy, prediction: np.ndarray, target: np.ndarray, error: np.ndarray) -> bool:
    """From probabilities: log p (or 1/p) with a p within its error bound of 0, or log(1 − p) of one within it
    of 1, against a nonzero weight."""
    if loss.from_logits:
        return False
    p = np.asarray(prediction, dtype=np.float64)
    t = smooth(element_target(p, target), loss.label_smoothing, 2)
    return bool(np.any((t != 0) & (error >= p)) or np.any((t != 1) & (error >= 1.0 - p)))


def _per_element(loss: BinaryCrossentropy, y: np.ndarray, t: np.ndarray, a_pred: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(own, seed) per element, from logits or from probabilities."""
    at, a1t = np.abs(t), np.abs(1.0 - t)
    if loss.from_logits:
        # abs terms of both max(y, 0) − t y + log1p(e^−|y|) and (1 − t) y + max(−y, 0) + log(e^−m + e^(−y−m)),
        # +1 for the log of a rounded sum, + |y||t| for the target's rounding
        own = np.abs(y) * (1.0 + 2.0 * at + a1t) + np.log1p(np.exp(-np.abs(y))) + 1.0
        sg = sigmoid(y)
        return own, np.maximum(sg * (1.0 - sg) * a_pred, sg + at)  # σ(y) − t
    p = y
    w, w1 = at > 0, a1t > 0  # a term whose weight is 0 contributes 0 (0 log 0 = 0), as in the reference
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lp, l1p = np.where(w, np.log(p), 0.0), np.where(w1, np.log1p(-p), 0.0)
        inv_p, inv_q = np.where(w, 1.0 / p, 0.0), np.where(w1, 1.0 / (1.0 - p), 0.0)
        # value terms, 1 − p's rounding u(1 + p) carried through log, and the target's rounding (∂ℓ/∂t)
        own = at * np.abs(lp) + a1t * np.abs(l1p) + a1t * (1.0 + p) * inv_q + at * (np.abs(lp) + np.abs(l1p))
        # −t/p + (1 − t)/(1 − p): curvature t/p² + (1 − t)/(1 − p)², the abs terms, 1 − p's rounding, t's
        curvature = at * inv_p**2 + a1t * inv_q**2
        terms = at * inv_p + a1t * inv_q + a1t * (1.0 + p) * inv_q**2 + at * (inv_p + inv_q)
    return own, np.maximum(curvature * a_pred, terms)
