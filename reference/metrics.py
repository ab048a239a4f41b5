"""Evaluation metrics: accuracy, mse, mae (the `loss` metric is the recipe's loss itself).

accuracy decides what a "predicted class" is from the recipe's loss, because only the loss says what
the model's outputs mean:
- binary (`binary_crossentropy`, or any loss on a one-unit output): class 1 where the output is > 0
  for logits (`from_logits: true`) or > 0.5 for probabilities (and for losses without `from_logits`);
  the target's class is t > 0.5; elementwise over every output unit (multi-label outputs included);
- otherwise: argmax over the last axis (the first maximum on ties, as numpy and torch do) against
  integer targets, or the argmax of one-hot/soft target rows.
The result is the fraction of correct positions, a float in [0, 1].
"""

from __future__ import annotations

import numpy as np

from lockstep.spec.losses import Loss


def _is_binary(prediction: np.ndarray, loss_type: str) -> bool:
    return loss_type == "binary_crossentropy" or (
        prediction.shape[-1:] == (1,) and loss_type not in ("sparse_categorical_crossentropy", "nll",
                                                            "categorical_crossentropy"))


def accuracy(prediction: np.ndarray, target: np.ndarray, loss: Loss | str, from_logits: bool | None = None) -> float:
    """Fraction of positions whose predicted class equals the target class; `loss` is the recipe's loss
    spec (or its type name, with `from_logits` given separately)."""
    loss_type = loss if isinstance(loss, str) else loss.type
    if from_logits is None:
        from_logits = bool(getattr(loss, "from_logits", False))
    y, t = np.asarray(prediction), np.asarray(target)
    if _is_binary(y, loss_type):
        if t.shape != y.shape:
            t = t.reshape(y.shape)
        predicted = y > (0.0 if from_logits else 0.5)
        return float(np.mean(predicted == (t > 0.5)))
    if t.shape == y.shape:
        labels = t.argmax(axis=-1)
    else:
        labels = t.reshape(y.shape[:-1]).astype(np.int64)
    return float(np.mean(y.argmax(axis=-1) == labels))


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean of (y − t)² over every element."""
    y = np.asarray(prediction, dtype=np.float64)
    return float(np.mean((y - np.asarray(target, dtype=np.float64).reshape(y.shape)) ** 2))


def mae(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean of |y − t| over every element."""
    y = np.asarray(prediction, dtype=np.float64)
    return float(np.mean(np.abs(y - np.asarray(target, dtype=np.float64).reshape(y.shape))))
