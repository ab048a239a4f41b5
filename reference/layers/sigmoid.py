"""sigmoid: y = σ(x) = 1 / (1 + e^-x); dy/dx = y (1 - y)."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.layers._magnitude import Mags, activation, activation_backward, sigmoid_slope
from lockstep.reference.layers._rules import no_excess, no_parameters, one_function
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Sigmoid


def forward(layer: Sigmoid, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    y = sigmoid(inputs[0])
    return y, y


def backward(layer: Sigmoid, grad_output: np.ndarray, cache: Cache) -> Gradients:
    y = cache
    return [grad_output * y * (1.0 - y)], {}


def magnitude(layer: Sigmoid, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max(y(1 − y)·A_x, y): the local slope; σ is accurate relative to itself."""
    a_y = activation(cache * (1.0 - cache), mags[0], cache)
    return a_y, a_y


def magnitude_backward(layer: Sigmoid, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """f′ = y(1 − y) from the result: m(f′) = max(|1 − 2y| A_y, y(1 + y)) (1 − y loses y's rounding near 1)."""
    slope, m = sigmoid_slope(cache, mag_cache)
    return [activation_backward(slope, m, grad, grad_mag)], {}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = one_function  # one library function and two roundings around it
batch_length = no_parameters
backward_excess = no_excess
