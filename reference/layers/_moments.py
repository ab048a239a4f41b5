"""The centred values and the reciprocal root of the normalizations (layer_norm, batch_norm, rms_norm), as the
standard's exact math gives them wherever float64 holds the result.

The textbook forms lose what the math keeps: `x − mean x` carries the rounding of the mean, u·|μ|, which is divided
by σ (inputs at 1e8 with spreads of 1e-3 came out 6e-5 wrong), and `mean x²` overflows once |x| passes ~1.3e154,
which made x̂ = 0 for inputs float64 holds. Centring from one of the values (exact where the values sit close to it,
Sterbenz) and a power-of-two scale (which rounds nothing: the result is the unscaled form's, bit for bit, wherever
that one neither overflows nor underflows) keep both.
"""

from __future__ import annotations

import numpy as np


def centred(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(x − μ, μ) over `axes` (kept as length-1 axes): the differences from the slice's first value, less their
    mean."""
    first = x[tuple(slice(0, 1) if a in axes else slice(None) for a in range(x.ndim))]
    d = x - first
    mean_d = d.mean(axis=axes, keepdims=True)
    return d - mean_d, first + mean_d


def inverse_root_mean_square(v: np.ndarray, axes: tuple[int, ...], epsilon: float) -> np.ndarray:
    """1 / √(mean v² + ε) over `axes` (kept), with v scaled by 2^k ≥ 1 (k from the slice's largest |v|) so that no
    square overflows. Scaling by a power of two only where it is above 1 keeps ε/4^k from overflowing for tiny v."""
    largest = np.max(np.abs(v), axis=axes, keepdims=True) if v.size else np.zeros(())
    _, exponent = np.frexp(largest)  # ±inf and NaN give 0: no scale, the unscaled form's ∞ or NaN
    scale = np.ldexp(1.0, np.clip(exponent, 0, 1023))  # 2^1024 is beyond float64 itself
    w = v / scale
    return 1.0 / np.sqrt((w * w).mean(axis=axes, keepdims=True) + epsilon / scale / scale) / scale
