"""Reduction and the stable log-probability helpers the losses share."""

import numpy as np


def reduce(values: np.ndarray, reduction: str) -> tuple[float, float]:
    """The reduced loss and the scale d(reduced)/d(value) that each element's gradient gets."""
    if reduction == "sum":
        return float(values.sum()), 1.0
    return float(values.mean()), 1.0 / max(values.size, 1)


def log_softmax(y: np.ndarray) -> np.ndarray:
    s = y - y.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def one_hot(t: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[np.asarray(t, dtype=np.int64)]
