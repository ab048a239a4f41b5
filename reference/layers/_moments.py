"""The normalizations' x̂ and reciprocal root (layer_norm, batch_norm, rms_norm) as the standard's exact math gives them
wherever float64 holds the result.

The textbook forms lose what the math keeps: `x − mean x` carries the rounding of the mean, u·|μ|, which is divided
by σ (inputs at 1e8 with spreads of 1e-3 came out 6e-5 wrong), and `mean x²` overflows once |x| passes ~1.3e154,
which made x̂ = 0 for inputs float64 holds. The values are first scaled by a power of two ≥ 1 (the slice's largest
|x| brought to at most 1: exact, and so the result is the unscaled form's, bit for bit, wherever that one neither
overflows nor underflows), then centred from the slice's first value (exact where the values sit close to it,
Sterbenz): neither a difference nor a square can overflow, even for a spread beyond float64's largest number.
"""

from __future__ import annotations

import numpy as np


def normalize(x: np.ndarray, axes: tuple[int, ...], epsilon: float, *, centre: bool = True
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x̂, r, μ, σ²) over `axes` (r, μ and σ² kept as length-1 axes): x̂ = (x − μ)·r, r = 1/√(σ² + ε), σ² = mean
    (x − μ)² (biased); without `centre` (rms_norm) μ = 0 and σ² = mean x². σ² is ∞ where it passes float64's range
    (a batch norm's running variance then is), r and x̂ are not."""
    largest = np.max(np.abs(x), axis=axes, keepdims=True) if x.size else np.zeros(())
    _, exponent = np.frexp(largest)  # ±inf and NaN give 0: no scale, the unscaled form's ∞ or NaN
    scale = np.ldexp(1.0, np.clip(exponent, 0, 1023))  # 2^1024 is beyond float64 itself
    w = x / scale
    if centre:
        first = w[tuple(slice(0, 1) if a in axes else slice(None) for a in range(w.ndim))]
        d = w - first
        mean_d = d.mean(axis=axes, keepdims=True)
        dev, mean = d - mean_d, (first + mean_d) * scale
    else:
        dev, mean = w, np.zeros_like(largest)
    square = (dev * dev).mean(axis=axes, keepdims=True)
    inv_scaled = 1.0 / np.sqrt(square + epsilon / scale / scale)
    with np.errstate(over="ignore"):
        variance = square * scale * scale
    return dev * inv_scaled, inv_scaled / scale, mean, variance
