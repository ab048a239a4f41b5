"""global_avg_pool: [N, C, *spatial] -> [N, C], y = mean over every spatial axis; dL/dx = g / count."""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import Shapes, first, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import GlobalAvgPool


def forward(layer: GlobalAvgPool, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    return x.mean(axis=tuple(range(2, x.ndim))), x.shape


def backward(layer: GlobalAvgPool, grad_output: np.ndarray, cache: Cache) -> Gradients:
    shape = cache
    count = math.prod(shape[2:])
    g = grad_output.reshape(*grad_output.shape, *([1] * (len(shape) - 2)))
    return [np.broadcast_to(g / count, shape).copy()], {}


def magnitude(layer: GlobalAvgPool, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = mean of A_x over the spatial axes."""
    return forward(layer, mags, params, ForwardContext())[0], None


def magnitude_backward(layer: GlobalAvgPool, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = G / count, broadcast."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: GlobalAvgPool, input_shapes: Shapes, *, training: bool = False,
                     batch: int = 1) -> int:
    """A sum over every spatial position, then one division."""
    return math.prod(first(input_shapes)[1:]) + 1


batch_length = no_parameters
backward_excess = no_excess
