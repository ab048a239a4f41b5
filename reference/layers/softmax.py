"""softmax along a per-sample axis: e^(x - max) / Σ e^(x - max)."""

import numpy as np


def batched_axis(axis: int) -> int:
    return axis if axis < 0 else axis + 1


def forward(layer, inputs, params, ctx):
    ax = batched_axis(layer.axis)
    x = inputs[0]
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    y = e / e.sum(axis=ax, keepdims=True)
    return y, y


def backward(layer, g, y):
    ax = batched_axis(layer.axis)
    return [y * (g - (g * y).sum(axis=ax, keepdims=True))], {}
