"""Gradient clipping, applied to the loss gradients before coupled L2 and the optimizer.

global_norm:  ‖g‖ = √(Σ_params Σ_i g_i²) over all parameters together, the true norm: where the sum of
              squares overflows but ‖g‖ does not (float32 gradients whose norm is above 2^64, float64 above
              2^512), or underflows into the subnormals or to 0 although ‖g‖ does not (float64 gradients all
              below about 2^-500; float32 gradients square in float64 here, but an adapter summing them in
              float32 meets this below 2^-60), it is computed on the gradients scaled by a power of two (exact)
              and scaled back;
              g ← g · min(1, max_norm / ‖g‖), no ε (torch adds 1e-6 to ‖g‖; tf.clip_by_global_norm does
              not). ‖g‖ = 0 leaves g as is; a non-finite ‖g‖ makes every gradient NaN, as
              tf.clip_by_global_norm does, so the failure surfaces instead of hiding as a zero step.
value:        g ← clip(g, −c, c) elementwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from lockstep.spec.schedules import ClipGlobalNorm, ClipValue, GradientClipping

Arrays = dict[str, np.ndarray]


SMALL_SQUARES = 2.0 ** -1000
"""A float64 sum of squares below this may hold squares that lost bits as subnormals (or vanished): ‖g‖ is then
computed on the gradients scaled up (`scaled_norm`), as an overflowing sum is on them scaled down."""


def global_norm(grads: Arrays) -> float:
    """‖g‖₂ over every gradient together, accumulated in float64; inf only where ‖g‖ itself is not finite."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        total = sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values())
        if math.isfinite(total) and total >= SMALL_SQUARES:
            return math.sqrt(total)
        if not math.isfinite(total) and not all(np.all(np.isfinite(g)) for g in grads.values()):
            return math.sqrt(total)
        return scaled_norm(grads)  # overflowed, or small (0 stays 0)


def scaled_norm(grads: Arrays) -> float:
    """‖g‖₂ of finite gradients whose sum of squares overflows or underflows: √(Σ (g·2⁻ᵉ)²)·2ᵉ with 2ᵉ just above
    the largest |g| (the scalings are exact, so only the sum's and the root's roundings remain, as in the plain
    form); 0 for gradients that are all 0."""
    top = max((float(np.max(np.abs(g))) for g in grads.values() if np.size(g)), default=0.0)
    e = math.frexp(top)[1]
    with np.errstate(under="ignore"):
        root = math.sqrt(sum(float(np.sum(np.square(np.ldexp(np.asarray(g, dtype=np.float64), -e))))
                             for g in grads.values()))
    try:
        return math.ldexp(root, e)
    except OverflowError:  # ‖g‖ itself beyond float64
        return math.inf


def _global_norm(grads: Arrays, clipping: ClipGlobalNorm, norm: float) -> Arrays:
    if not math.isfinite(norm):
        return {k: np.full(np.shape(g), np.nan) for k, g in grads.items()}
    if norm <= clipping.max_norm:
        return dict(grads)
    scale = clipping.max_norm / norm
    if scale < SMALL_SQUARES:  # subnormal or 0 (max_norm 1e-300 against a norm of 5e300): g/‖g‖ first, then c
        return {k: (g / norm) * clipping.max_norm for k, g in grads.items()}
    return {k: g * scale for k, g in grads.items()}


def _value(grads: Arrays, clipping: ClipValue, norm: float) -> Arrays:
    c = clipping.clip_value
    return {k: np.clip(g, -c, c) for k, g in grads.items()}


CLIPPING: dict[str, Callable[[Arrays, Any, float], Arrays]] = {"global_norm": _global_norm, "value": _value}
"""Every clipping of spec v1, by name: `fn(grads, clipping, ‖g‖) -> clipped grads`."""


def clip(grads: Arrays, clipping: GradientClipping | None) -> tuple[Arrays, float]:
    """The clipped gradients (a new dict; arrays are new where changed) and ‖g‖ before clipping."""
    norm = global_norm(grads)
    if clipping is None:
        return dict(grads), norm
    if clipping.type not in CLIPPING:
        raise KeyError(f"no reference implementation for clipping `{clipping.type}`: add it to `CLIPPING` in "
                       "reference/clipping.py")
    return CLIPPING[clipping.type](grads, clipping, norm), norm
