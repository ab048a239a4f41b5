"""rms_norm: each sample scaled by the reciprocal root mean square of its last `dims` axes (m values), no centring:

r = 1 / √(mean x² + ε)   (ε inside the root, as torch.nn.RMSNorm and keras.layers.RMSNormalization),
x̂ = x r,  y = weight ⊙ x̂   (or y = x̂ with `scale: false`), weight shaped like those last axes.
dL/dx = r (ĝ − x̂ mean(ĝ x̂)) with ĝ = weight ⊙ g (g without scale), the mean over the normalized axes;
dL/dweight = Σ g x̂ over the leading axes.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._moments import normalize
from lockstep.reference.layers._rules import FUNCTION_ULPS, Shapes, first, no_excess
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import RMSNorm


def _axes(layer: RMSNorm, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim - layer.dims, ndim))


def forward(layer: RMSNorm, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    axes = _axes(layer, x.ndim)
    x_hat, inv_rms, _, _ = normalize(x, axes, layer.epsilon, centre=False)
    weight = params["weight"] if layer.scale else None
    return (x_hat if weight is None else weight * x_hat), (x, x_hat, inv_rms, weight, axes)


def backward(layer: RMSNorm, grad_output: np.ndarray, cache: Cache) -> Gradients:
    _, x_hat, inv_rms, weight, axes = cache
    grads: Params = {}
    g_hat = grad_output
    if weight is not None:
        leading = tuple(range(grad_output.ndim - len(axes)))
        grads["weight"] = (grad_output * x_hat).sum(axis=leading)
        g_hat = grad_output * weight
    dx = inv_rms * (g_hat - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))
    return [dx], grads


def magnitude(layer: RMSNorm, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_x̂ = max(r(A + |x̂| mean(|x̂| A)), |x̂|): input errors through the Jacobian r(δ_ij − x̂_i x̂_j / m) taken
    termwise; own roundings are relative (mean x² sums non-negative terms, so no cancellation: x̂'s own error is
    a multiple of |x̂|, the multiple being `reduction_length`). r's relative error ρ = max(r² mean(|x| A), 1) is
    kept for the backward. A_y = |w| A_x̂."""
    x, x_hat, inv_rms, weight, axes = cache
    a = mags[0]
    abs_hat = np.abs(x_hat)
    prop = inv_rms * (a + abs_hat * (abs_hat * a).mean(axis=axes, keepdims=True))
    a_hat = np.maximum(prop, abs_hat)
    rho = np.maximum(inv_rms * inv_rms * (np.abs(x) * a).mean(axis=axes, keepdims=True), 1.0)
    return (a_hat if weight is None else np.abs(weight) * a_hat), (a_hat, rho)


def magnitude_backward(layer: RMSNorm, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dx = r(ĝ − x̂ mean(ĝx̂)): ĝ's error r(Ĝ + |x̂| mean(Ĝ|x̂|)), x̂'s r(A_x̂|mean(ĝx̂)| + |x̂| mean(|ĝ| A_x̂)), r's
    ρ·r·|bracket|; own r(|ĝ| + |x̂| mean|ĝx̂|). dw: Σ A_x̂ G over the leading axes."""
    _, x_hat, inv_rms, weight, axes = cache
    a_hat, rho = mag_cache

    def mean(v: np.ndarray) -> np.ndarray:
        return v.mean(axis=axes, keepdims=True)

    grads: Params = {}
    gh, gm = grad, grad_mag
    if weight is not None:
        leading = tuple(range(grad.ndim - len(axes)))
        grads["weight"] = (grad_mag * a_hat).sum(axis=leading)
        gh, gm = weight * grad, np.abs(weight) * grad_mag
    abs_hat, abs_gh = np.abs(x_hat), np.abs(gh)
    bracket = gh - x_hat * mean(gh * x_hat)
    prop = (gm + abs_hat * mean(gm * abs_hat) + a_hat * np.abs(mean(gh * x_hat)) + abs_hat * mean(abs_gh * a_hat)
            + rho * np.abs(bracket))
    own = abs_gh + abs_hat * mean(abs_gh * abs_hat)
    return [inv_rms * np.maximum(prop, own)], grads


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: RMSNorm, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """The mean of squares over the normalized D values (a square and D additions), + ε, a root and a reciprocal
    (or rsqrt), the products by r and by the weight."""
    d = math.prod(first(input_shapes)[-layer.dims:])
    return d + 2 * FUNCTION_ULPS + 4


def batch_length(layer: RMSNorm, input_shapes: Shapes, batch: int) -> int:
    """The weight gradient sums over the batch and every leading (unnormalized) position (none without scale)."""
    x = first(input_shapes)
    return batch * math.prod(x[:len(x) - layer.dims]) if layer.scale else 0


backward_excess = no_excess
