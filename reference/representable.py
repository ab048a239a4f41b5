"""A value not representable in the recipe's dtype is non-finite (docs/spec/v1-semantics.md, "Representable
values").

The reference computes in float64 also for float32 recipes, so without this rule it keeps training on
values a float32 backend already holds as ±∞ (Adam at lr 1e30: loss 1e62 on the reference, a non-finite
loss at step 2 on torch and TensorFlow). At the points the standard names (the model output, the loss and
the sum of its terms, the gradients, and the parameters, buffers and optimizer state after a step) a value
beyond the dtype's largest finite number becomes ±∞ with its sign, as float32 arithmetic would hold it;
the ordinary non-finite rule then decides the step. Values within the range are untouched (no rounding to float32):
the reference stays the float64 oracle.
"""

from __future__ import annotations

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4028234663852886e38
_LIMITS = {"float32": FLOAT32_MAX}


def limit(dtype: str) -> float | None:
    """The largest finite magnitude of `dtype`, or None where float64 already holds the rule (float64)."""
    return _LIMITS.get(dtype)


def to_range(a: np.ndarray, bound: float | None) -> np.ndarray:
    """`a` with every element whose magnitude exceeds `bound` replaced by ±∞ (NaN stays NaN); `a` itself
    (not a copy) when nothing exceeds it."""
    if bound is None or a.size == 0:
        return a
    big = np.abs(a) > bound  # NaN compares False: left alone (np.max would hide a large value behind a NaN)
    if not big.any():
        return a
    return np.where(big, np.copysign(np.inf, a), a)


ELEMENT_LOSSES = frozenset({"mse", "mae", "huber", "binary_crossentropy"})  # one term per element, else per position


def loss_to_range(loss_type: str, reduction: str, value: float, prediction_shape: tuple[int, ...],
                  bound: float | None) -> float:
    """The loss under the rule: ±∞ when the loss or the sum of its terms before a `mean` divides it is beyond
    the range. A float32 mean sums its terms first, so terms of 1e38 overflow it although their mean fits."""
    if bound is None:
        return value
    if reduction == "mean":
        shape = prediction_shape if loss_type in ELEMENT_LOSSES else prediction_shape[:-1]
        total = abs(value) * float(np.prod(shape, dtype=np.float64))
    else:
        total = abs(value)
    return float(np.copysign(np.inf, value)) if total > bound else value
