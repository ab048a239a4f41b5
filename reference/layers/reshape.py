"""reshape: a per-sample row-major reshape (the batch axis is kept); the gradient is reshaped back."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import exact, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Reshape


def forward(layer: Reshape, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    return x.reshape(x.shape[0], *layer.output_shape([x.shape[1:]])), x.shape


def backward(layer: Reshape, grad_output: np.ndarray, cache: Cache) -> Gradients:
    shape = cache
    return [grad_output.reshape(shape)], {}


def magnitude(layer: Reshape, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = A_x, reshaped."""
    return forward(layer, mags, params, ForwardContext())[0], None


def magnitude_backward(layer: Reshape, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = G, reshaped back."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = exact  # it moves values and never rounds
batch_length = no_parameters
backward_excess = no_excess
