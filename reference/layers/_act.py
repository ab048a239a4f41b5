"""Shared bits of the sigmoid family (sigmoid, silu, LSTM/GRU gates, binary cross-entropy) and of log_softmax (the
layer and the cross-entropies from logits)."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^-x), written with e^-|x| so that no exponential overflows for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """(x − max) − log Σ e^(x − max) along `axis`, no exponential overflowing. The sum's term at the maximum (1) is
    kept out of it and the rest taken through log1p: a row that saturates (logits [0, −20, −30]) keeps its
    log-probability −2.06e-9 to the last digit, where log(1 + 2.06e-9) kept half of them."""
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    np.put_along_axis(e, np.expand_dims(z.argmax(axis=axis), axis), 0.0, axis=axis)  # one maximum; ties keep the rest
    return z - np.log1p(e.sum(axis=axis, keepdims=True))


def softmax_less(log_p: np.ndarray, weight: np.ndarray, t: np.ndarray) -> np.ndarray:
    """p·weight − t for p = e^log_p, with p − 1 as expm1(log_p) where p > ½: a saturated class's p − t (t = 1) is
    −(the others' share), which 1 − p left with a relative error of u/(1 − p)."""
    p = np.exp(log_p)
    return np.where(p > 0.5, np.expm1(log_p) * weight + (weight - t), p * weight - t)
