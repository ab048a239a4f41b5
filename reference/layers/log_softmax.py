"""log_softmax along a per-sample axis: x - max - log Σ e^(x - max)."""

import numpy as np

from lockstep.reference.layers.softmax import batched_axis


def forward(layer, inputs, params, ctx):
    ax = batched_axis(layer.axis)
    x = inputs[0]
    s = x - x.max(axis=ax, keepdims=True)
    y = s - np.log(np.exp(s).sum(axis=ax, keepdims=True))
    return y, y


def backward(layer, g, y):
    ax = batched_axis(layer.axis)
    return [g - np.exp(y) * g.sum(axis=ax, keepdims=True)], {}
