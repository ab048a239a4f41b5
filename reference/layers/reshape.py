"""reshape: a per-sample row-major reshape (the batch axis is kept); the gradient is reshaped back."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Reshape


def forward(layer: Reshape, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    return x.reshape(x.shape[0], *layer.output_shape([x.shape[1:]])), x.shape


def backward(layer: Reshape, grad_output: np.ndarray, cache: Cache) -> Gradients:
    shape = cache
    return [grad_output.reshape(shape)], {}
