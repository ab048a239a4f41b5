"""elu: x if x > 0 else alpha (e^x - 1)."""

import numpy as np


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    neg = layer.alpha * np.expm1(np.minimum(x, 0.0))
    return np.where(x > 0, x, neg), (x, neg)


def backward(layer, g, cache):
    x, neg = cache
    return [g * np.where(x > 0, 1.0, neg + layer.alpha)], {}
