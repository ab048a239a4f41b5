"""add: y = Σ_k x_k over two or more inputs of one shape; dL/dx_k = g for every k."""

from __future__ import annotations

import numpy as np

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
