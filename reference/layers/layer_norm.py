"""layer_norm: each sample normalized over its last `dims` axes (m values), the same in training and eval.

μ = mean x,  σ² = mean (x - μ)² (biased),  x̂ = (x - μ) / √(σ² + ε),  y = weight ⊙ x̂ + bias,
with weight and bias shaped like those last axes.
dL/dx = (1 / (m √(σ² + ε))) (m ĝ - Σ ĝ - x̂ Σ ĝ x̂) with ĝ = weight ⊙ g, sums over the normalized axes.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags, normalize, normalize_backward
from lockstep.reference.layers._moments import normalize as normalize_moments
from lockstep.reference.layers._rules import FUNCTION_ULPS, Shapes, first, no_excess
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import LayerNorm


def forward(layer: LayerNorm, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    axes = tuple(range(x.ndim - layer.dims, x.ndim))
    x_hat, inv_std, _, _ = normalize_moments(x, axes, layer.epsilon)
    weight = params["weight"]
    return weight * x_hat + params["bias"], (x_hat, inv_std, weight, axes)


def backward(layer: LayerNorm, grad_output: np.ndarray, cache: Cache) -> Gradients:
    x_hat, inv_std, weight, axes = cache
    leading = tuple(range(grad_output.ndim - len(axes)))
    grads = {"weight": (grad_output * x_hat).sum(axis=leading), "bias": grad_output.sum(axis=leading)}
    g_hat = grad_output * weight
    m = math.prod(grad_output.shape[a] for a in axes)
    dx = inv_std / m * (m * g_hat - g_hat.sum(axis=axes, keepdims=True)
                        - x_hat * (g_hat * x_hat).sum(axis=axes, keepdims=True))
    return [dx], grads


def magnitude(layer: LayerNorm, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = |w| A_x̂ + |b|, A_x̂ from `_magnitude.normalize` (x̂'s own rounding includes r(|x| + |μ| + mean|x|):
    a single normalized value has x̂ = 0 exactly, yet float32 leaves ≈ u|x|/√ε)."""
    (x,) = inputs
    x_hat, inv_std, weight, axes = cache
    a_hat, rho = normalize(x, mags[0], x_hat, inv_std, axes)
    return np.abs(weight) * a_hat + np.abs(params["bias"]), (a_hat, rho)


def magnitude_backward(layer: LayerNorm, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dx: `_magnitude.normalize_backward`;  dw: Σ A_x̂ G;  db: Σ G (sums over the leading axes)."""
    x_hat, inv_std, weight, axes = cache
    a_hat, rho = mag_cache
    leading = tuple(range(grad.ndim - len(axes)))
    grads = {"weight": (grad_mag * a_hat).sum(axis=leading), "bias": grad_mag.sum(axis=leading)}
    return [normalize_backward(grad, grad_mag, weight, x_hat, a_hat, inv_std, rho, axes)], grads


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: LayerNorm, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """Mean and variance over the normalized D values (two passes), a root and a division, the affine map."""
    d = math.prod(first(input_shapes)[-layer.dims:])
    return 2 * d + 2 * FUNCTION_ULPS + 3


def batch_length(layer: LayerNorm, input_shapes: Shapes, batch: int) -> int:
    """The weight and bias gradients sum over the batch and every leading (unnormalized) position."""
    x = first(input_shapes)
    return batch * math.prod(x[:len(x) - layer.dims])


backward_excess = no_excess
