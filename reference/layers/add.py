"""add: y = Σ_k x_k over two or more inputs of one shape; dL/dx_k = g for every k."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import Shapes, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Add


def forward(layer: Add, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    if any(x.shape != inputs[0].shape for x in inputs):  # the standard has no broadcasting here
        raise ValueError(f"add needs inputs of one shape, got {[list(x.shape) for x in inputs]}")
    y = inputs[0]
    for x in inputs[1:]:
        y = y + x  # left to right: the order of a float sum is part of the result
    return y, len(inputs)


def backward(layer: Add, grad_output: np.ndarray, cache: Cache) -> Gradients:
    count = cache
    return [grad_output] * count, {}


def magnitude(layer: Add, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = Σ_k A_k: each input's error passes unchanged, the k − 1 additions round within Σ A_k."""
    return forward(layer, mags, params, ForwardContext())[0], None


def magnitude_backward(layer: Add, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_k = G for every input."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: Add, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """k inputs: k − 1 additions."""
    return len(input_shapes) - 1


batch_length = no_parameters
backward_excess = no_excess
