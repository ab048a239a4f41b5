"""leaky_relu: x if x > 0 else negative_slope · x."""

import numpy as np


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    slope = np.where(x > 0, 1.0, layer.negative_slope)
    return x * slope, slope


def backward(layer, g, slope):
    return [g * slope], {}
