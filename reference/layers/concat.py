"""concat along a per-sample axis (default 0, the channel axis); the gradient splits back into pieces."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Concat


def forward(layer: Concat, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    rank = inputs[0].ndim - 1  # per-sample rank
    ax = layer.axis % rank + 1  # the same axis with the batch axis in front
    return np.concatenate(inputs, axis=ax), (ax, [x.shape[ax] for x in inputs])


def backward(layer: Concat, grad_output: np.ndarray, cache: Cache) -> Gradients:
    ax, sizes = cache
    return list(np.split(grad_output, np.cumsum(sizes)[:-1], axis=ax)), {}
