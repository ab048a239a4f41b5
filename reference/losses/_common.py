"""Reduction, target shaping and the stable log-probability forms the losses share."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import log_softmax, sigmoid  # noqa: F401 - shared with the layers, named here too


def reduce(values: np.ndarray, reduction: str) -> tuple[float, float]:
    """The reduced loss and ∂(reduced)/∂(each value): 1 for `sum`, 1/m for `mean` over all m values."""
    if reduction == "sum":
        return float(values.sum()), 1.0
    if values.size == 0:
        raise ValueError("a mean loss over an empty batch is undefined")
    return float(values.mean()), 1.0 / values.size


def element_target(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Float targets shaped like the prediction; [N, ...] also fits a one-unit output [N, ..., 1].

    Never broadcast: `y - t` of [N, 1] and [N] would silently become [N, N].
    """
    t = np.asarray(t, dtype=np.float64)
    if t.shape == y.shape:
        return t
    if y.shape[-1:] == (1,) and t.shape == y.shape[:-1]:
        return t.reshape(y.shape)
    raise ValueError(f"target shape {list(t.shape)} does not match prediction shape {list(y.shape)}")


def class_indices(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Integer class targets [N, ...] for predictions [N, ..., C] ([N, ..., 1] is accepted too).

    Out-of-range indices are an error: NumPy would wrap a negative index to a real class silently.
    """
    t = np.asarray(t)
    if t.shape == (*y.shape[:-1], 1) and y.shape[-1] != 1:
        t = t.reshape(y.shape[:-1])
    if t.shape != y.shape[:-1]:
        raise ValueError(f"class targets of shape {list(t.shape)} do not fit predictions {list(y.shape)}")
    idx = t.astype(np.int64)
    if not np.array_equal(idx, t):
        raise ValueError("class targets must be integers")
    c = y.shape[-1]
    if idx.size and (idx.min() < 0 or idx.max() >= c):
        raise ValueError(f"class targets must lie in [0, {c}), got values in [{idx.min()}, {idx.max()}]")
    return idx


def one_hot(idx: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[idx]


def smooth(t: np.ndarray, s: float, classes: int) -> np.ndarray:
    """Label smoothing t ← t (1 − s) + s / K (K = C for categorical, 2 for binary)."""
    return t * (1.0 - s) + s / classes if s else t


def xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x log y with 0 log y = 0 for every y (0 log 0 included): a class with zero target weight
    contributes nothing, whatever probability the model gives it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(y))


def xdivy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x / y with 0 / y = 0: the derivative of xlogy's convention."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x / y)


def xlog1py(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x log(1 + y) with 0 log(1 + y) = 0 for every y: xlogy of 1 + y without rounding 1 + y (log(1 − p) of a
    probability p = 1e-10 lost 8 digits to 1 − p)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log1p(y))
