"""What the losses' float32 rules share (docs/spec/v1-semantics.md § Tolerances; reference/error_bounds.py).

Every loss module states, next to its `forward`/`backward`:

    length(loss, shape) -> int
        n of the loss after the output, for a batched prediction of `shape`: the per-position reduction
        (log-sum-exp over C for the class losses, one subtraction and one function for element losses) and
        the reduction over the positions;
    terms(loss, prediction, target, a_pred) -> (own, G_y)
        the loss's own magnitude (its formula with every term absolute, plus the target's rounding to the
        working precision carried by ∂ℓ/∂t) and the magnitude of ∂L/∂y, max(|∂²L/∂y²|·A_y, own terms of the
        derivative's formula); `reference.tolerances.loss_magnitude` adds the output's error Σ|∂L/∂y|·A_y;
    singular(loss, prediction, target, error) -> bool
        whether it takes log p or 1/p (or of 1 − p) of a p whose error bound reaches its distance to 0: there
        float32 may return ±inf and the first-order bound says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lockstep.reference.layers._magnitude import softmax as softmax_magnitude
from lockstep.reference.losses._common import element_target, log_softmax
from lockstep.reference.tolerances import FUNCTION_ULPS

Terms = tuple[float, np.ndarray]


def _classes(shape: tuple[int, ...]) -> int:
    return shape[-1] if len(shape) > 1 else 1


def class_length(loss: object, shape: tuple[int, ...]) -> int:
    """Per position a log-sum-exp over the C classes (three functions) and two roundings; then the positions."""
    classes = _classes(shape)
    return classes + 3 * FUNCTION_ULPS + 2 + math.prod(shape) // classes + 1


def element_length(loss: object, shape: tuple[int, ...]) -> int:
    """Per element one subtraction, one function and two roundings; then every element."""
    return FUNCTION_ULPS + 3 + math.prod(shape) + 1


def never(loss: object, prediction: np.ndarray, target: np.ndarray, error: np.ndarray) -> bool:
    """A loss that takes no log or reciprocal of its input (or takes them of logits, stably)."""
    return False


def element_terms(loss: object, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray,
                  per_element: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
                  ) -> Terms:
    """(own, G_y) of an elementwise loss from its per-element (own, seed) of y, t and A_y, reduced."""
    y = np.asarray(prediction, dtype=np.float64)
    t = element_target(y, target)
    scale = 1.0 / y.size if loss.reduction == "mean" else 1.0  # type: ignore[attr-defined]
    own_i, seed = per_element(y, t, a_pred)
    return float(scale * own_i.sum()), scale * seed


def categorical_terms(loss: object, y: np.ndarray, t: np.ndarray, a_pred: np.ndarray) -> Terms:
    """(own, G_y) of cross-entropy against the (smoothed) target rows t, from logits or probabilities."""
    scale = 1.0 / (y.size // y.shape[-1]) if loss.reduction == "mean" else 1.0  # type: ignore[attr-defined]
    at = np.abs(t)
    if loss.from_logits:  # type: ignore[attr-defined]
        logp = log_softmax(y)
        shift = np.abs(y - y.max(axis=-1, keepdims=True))
        log_s = -logp.max(axis=-1, keepdims=True)
        own = np.sum(at * (shift + log_s + 1.0) + at * np.abs(logp))  # value terms + the target's rounding
        p = np.exp(logp)
        seed = at.sum(axis=-1, keepdims=True) * softmax_magnitude(p, shift, a_pred, -1) + at  # p Σt − t
        return float(scale * own), scale * seed
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.where(at > 0, np.log(y), 0.0)
        own = 2.0 * np.sum(at * np.abs(logp))  # value terms + the target's rounding
        seed = np.where(at > 0, np.maximum(at * a_pred / (y * y), at / np.abs(y)), 0.0)  # −t / p
    return float(scale * own), scale * seed


def categorical_singular(loss: object, p: np.ndarray, t: np.ndarray, error: np.ndarray) -> bool:
    """From probabilities: a class with weight t > 0 whose p is within its error bound of 0."""
    if getattr(loss, "from_logits", True):
        return False
    return bool(np.any((t != 0) & (error >= p)))
