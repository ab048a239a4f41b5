"""log_softmax along a per-sample axis: y = (x - max) - log Σ e^(x - max);  dL/dx = g - e^y Σ g.

`axis` is read as in softmax (per-sample; negative counts from the end).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.reference.layers.softmax import batched_axis
from lockstep.spec.layers import LogSoftmax


def forward(layer: LogSoftmax, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    ax = batched_axis(layer.axis)
    shifted = x - x.max(axis=ax, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=ax, keepdims=True))
    return y, y


def backward(layer: LogSoftmax, grad_output: np.ndarray, cache: Cache) -> Gradients:
    y = cache
    ax = batched_axis(layer.axis)
    return [grad_output - np.exp(y) * grad_output.sum(axis=ax, keepdims=True)], {}
