"""Gradient clipping, applied to the loss gradients before coupled L2 and the optimizer.

global_norm:  ‖g‖ = √(Σ_params Σ_i g_i²) over all parameters together;
              g ← g · min(1, max_norm / ‖g‖), no ε (torch adds 1e-6 to ‖g‖; tf.clip_by_global_norm does
              not). ‖g‖ = 0 leaves g as is; a non-finite ‖g‖ makes every gradient NaN, as
              tf.clip_by_global_norm does, so the failure surfaces instead of hiding as a zero step.
value:        g ← clip(g, −c, c) elementwise.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.spec.schedules import GradientClipping

Arrays = dict[str, np.ndarray]


def global_norm(grads: Arrays) -> float:
    """‖g‖₂ over every gradient together, accumulated in float64."""
    return math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))


def clip(grads: Arrays, clipping: GradientClipping | None) -> tuple[Arrays, float]:
    """The clipped gradients (a new dict; arrays are new where changed) and ‖g‖ before clipping."""
    norm = global_norm(grads)
    if clipping is None:
        return dict(grads), norm
    if clipping.type == "global_norm":
        if not math.isfinite(norm):
            return {k: np.full(np.shape(g), np.nan) for k, g in grads.items()}, norm
        if norm <= clipping.max_norm:
            return dict(grads), norm
        scale = clipping.max_norm / norm
        return {k: g * scale for k, g in grads.items()}, norm
    c = clipping.clip_value
    return {k: np.clip(g, -c, c) for k, g in grads.items()}, norm
