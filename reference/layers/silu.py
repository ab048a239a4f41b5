"""silu (swish): y = x σ(x); dy/dx = σ(x) (1 + x (1 - σ(x)))."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.layers._magnitude import Mags, activation, activation_backward
from lockstep.reference.layers._rules import no_excess, no_parameters, one_function
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import SiLU


def forward(layer: SiLU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    s = sigmoid(x)
    return x * s, (x, s)


def backward(layer: SiLU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    x, s = cache
    return [grad_output * s * (1.0 + x * (1.0 - s))], {}


def magnitude(layer: SiLU, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max(|σ(1 + x(1 − σ))|·A_x, |y|): the local slope; x σ(x) is accurate relative to |y|."""
    x, s = cache
    return activation(s * (1.0 + x * (1.0 - s)), mags[0], np.abs(x * s)), mags[0]


def magnitude_backward(layer: SiLU, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """f′ = σ(1 + x(1 − σ)), own σ(1 + |x|(1 + σ)), f″ = σ(1 − σ)(2 + x(1 − 2σ));
    G_x = |f′|G + |g|·max(|f″|A_x, own)."""
    x, s = cache
    slope = s * (1.0 + x * (1.0 - s))
    curvature = s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))
    own = s * (1.0 + np.abs(x) * (1.0 + s))
    return [activation_backward(slope, np.maximum(np.abs(curvature) * mag_cache, own), grad, grad_mag)], {}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = one_function  # one library function and two roundings around it
batch_length = no_parameters
backward_excess = no_excess
