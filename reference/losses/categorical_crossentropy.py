"""categorical_crossentropy: ℓ = −Σ_c t_c log p_c per position (class axis last), then reduced over
positions (mean over N and any extra axes, or sum). Targets one-hot or soft, never renormalized.

Label smoothing first: t ← t (1 − s) + s/C.
From logits p = softmax(y), computed as log p = log_softmax(y); ∂ℓ/∂y = p Σ_c t_c − t
(= p − t for targets summing to 1).
From probabilities log p is taken as given, with no clipping and no renormalization of p; a class
with t_c = 0 contributes 0 whatever p_c is (0 log 0 = 0); ∂ℓ/∂p = −t / p (0 where t_c = 0).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import softmax_less
from lockstep.reference.losses._common import log_softmax, reduce, smooth, xdivy, xlogy
from lockstep.reference.losses._rules import Terms, categorical_singular, categorical_terms, class_length
from lockstep.spec.losses import CategoricalCrossentropy, SparseCategoricalCrossentropy

Cache = tuple[np.ndarray, np.ndarray, np.ndarray, float]


def forward_soft(loss: CategoricalCrossentropy | SparseCategoricalCrossentropy, y: np.ndarray,
                 t: np.ndarray) -> tuple[float, Cache]:
    """The loss for float target rows t of y's shape (shared with the sparse form)."""
    t = smooth(t, loss.label_smoothing, y.shape[-1])
    if loss.from_logits:
        logp = log_softmax(y)
        per = -(t * logp).sum(axis=-1)
    else:
        logp = y  # unused: the gradient from probabilities needs only y and t
        per = -xlogy(t, y).sum(axis=-1)
    value, scale = reduce(per, loss.reduction)
    return value, (y, t, logp, scale)


def forward(loss: CategoricalCrossentropy, prediction: np.ndarray, target: np.ndarray) -> tuple[float, Cache]:
    t = np.asarray(target, dtype=np.float64)
    if t.shape != prediction.shape:
        raise ValueError(f"categorical targets of shape {list(t.shape)} must match predictions "
                         f"{list(prediction.shape)} (use sparse_categorical_crossentropy for class indices)")
    return forward_soft(loss, prediction, t)


def backward(loss: CategoricalCrossentropy | SparseCategoricalCrossentropy, cache: Cache) -> np.ndarray:
    y, t, logp, scale = cache
    if loss.from_logits:
        return softmax_less(logp, t.sum(axis=-1, keepdims=True), t) * scale
    return -xdivy(t, y) * scale


# ----------------------------------------------------------- float32 rules (reference/losses/_rules.py)
length = class_length


def terms(loss: CategoricalCrossentropy, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray
          ) -> Terms:
    y = np.asarray(prediction, dtype=np.float64)
    t = smooth(np.asarray(target, dtype=np.float64), loss.label_smoothing, y.shape[-1])
    return categorical_terms(loss, y, t, a_pred)


def singular(loss: CategoricalCrossentropy, prediction: np.ndarray, target: np.ndarray, error: np.ndarray
             ) -> bool:
    p = np.asarray(prediction, dtype=np.float64)
    return categorical_singular(loss, p, smooth(np.asarray(target, dtype=np.float64), loss.label_smoothing,
                                                p.shape[-1]), error)
