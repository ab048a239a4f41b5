"""Gradient clipping: by global norm (g · min(1, c/‖g‖), no epsilon) or elementwise by value."""

from __future__ import annotations

import math

import numpy as np


def global_norm(grads: dict[str, np.ndarray]) -> float:
    return math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))


def clip(grads: dict[str, np.ndarray], clipping) -> tuple[dict[str, np.ndarray], float]:
    """Clipped gradients and the global norm before clipping."""
    norm = global_norm(grads)
    if clipping is None:
        return grads, norm
    if clipping.type == "global_norm":
        scale = min(1.0, clipping.max_norm / norm) if norm > 0 else 1.0
        return ({k: g * scale for k, g in grads.items()} if scale < 1.0 else grads), norm
    c = clipping.clip_value
    return {k: np.clip(g, -c, c) for k, g in grads.items()}, norm
