"""tanh: y = tanh(x); dy/dx = 1 - y²."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags, activation, activation_backward, tanh_slope
from lockstep.reference.layers._rules import no_excess, no_parameters, one_function
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Tanh


def forward(layer: Tanh, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    y = np.tanh(inputs[0])
    return y, y


def backward(layer: Tanh, grad_output: np.ndarray, cache: Cache) -> Gradients:
    y = cache
    return [grad_output * (1.0 - y**2)], {}


def magnitude(layer: Tanh, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max((1 − y²)·A_x, |y|): the local slope; tanh is accurate relative to itself."""
    a_y = activation(1.0 - cache * cache, mags[0], np.abs(cache))
    return a_y, a_y


def magnitude_backward(layer: Tanh, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """f′ = 1 − y² from the result: m(f′) = max(2|y| A_y, 1 + y²)."""
    slope, m = tanh_slope(cache, mag_cache)
    return [activation_backward(slope, m, grad, grad_mag)], {}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = one_function  # one library function and two roundings around it
batch_length = no_parameters
backward_excess = no_excess
