"""multiply: y = x_1 ⊙ x_2 ⊙ … ⊙ x_k, two or more inputs of one shape, left to right (gated MLPs: SwiGLU's
silu(x W) ⊙ (x V)); dL/dx_k = g ⊙ Π_{j≠k} x_j.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import Shapes, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Multiply


def _others(xs: list[np.ndarray], k: int) -> np.ndarray:
    """Π_{j≠k} x_j, left to right."""
    rest = [x for j, x in enumerate(xs) if j != k]
    out = rest[0]
    for x in rest[1:]:
        out = out * x
    return out


def forward(layer: Multiply, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    if any(x.shape != inputs[0].shape for x in inputs):  # the standard has no broadcasting here
        raise ValueError(f"multiply needs inputs of one shape, got {[list(x.shape) for x in inputs]}")
    y = inputs[0]
    for x in inputs[1:]:
        y = y * x  # left to right: the order of a float product is part of the result
    return y, list(inputs)


def backward(layer: Multiply, grad_output: np.ndarray, cache: Cache) -> Gradients:
    xs = cache
    return [grad_output * _others(xs, k) for k in range(len(xs))], {}


def _others_magnitude(xs: list[np.ndarray], mags: list[np.ndarray], k: int) -> np.ndarray:
    """The magnitude of Π_{j≠k} x_j: Σ_{i≠k} A_i Π_{j≠k,i} |x_j| (first order; ≥ its own relative roundings)."""
    idx = [j for j in range(len(xs)) if j != k]
    if len(idx) == 1:
        return mags[idx[0]]
    total = np.zeros(np.shape(xs[0]))
    for i in idx:
        term = mags[i]
        for j in idx:
            if j != i:
                term = term * np.abs(xs[j])
        total = total + term
    return total


def magnitude(layer: Multiply, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = Σ_k A_k Π_{j≠k} |x_j|: each input's error scaled by the others; the k − 1 products' own roundings are
    relative, within |y| ≤ A_k Π_{j≠k} |x_j| (A_k ≥ |x_k|)."""
    xs, ms = list(inputs), [np.asarray(m) for m in mags]
    total = np.zeros(np.shape(xs[0]))
    for k in range(len(xs)):
        total = total + ms[k] * np.abs(_others(xs, k))
    return total, ms


def magnitude_backward(layer: Multiply, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_k = G Π_{j≠k}|x_j| + |g| M(Π_{j≠k} x_j): the signal times a cached value, both partials."""
    xs, ms = cache, mag_cache
    return [grad_mag * np.abs(_others(xs, k)) + np.abs(grad) * _others_magnitude(xs, ms, k)
            for k in range(len(xs))], {}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: Multiply, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """k inputs: k − 1 products."""
    return len(input_shapes) - 1


batch_length = no_parameters
backward_excess = no_excess
