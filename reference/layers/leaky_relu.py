"""leaky_relu: y = x if x > 0 else negative_slope · x (the standard's slope is 0.01, Keras's 0.3)."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import LeakyReLU


def forward(layer: LeakyReLU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    slope = np.where(x > 0, 1.0, layer.negative_slope)  # dy/dx, also the factor y = slope · x
    return x * slope, slope


def backward(layer: LeakyReLU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    slope = cache
    return [grad_output * slope], {}
