"""tanh."""

import numpy as np


def forward(layer, inputs, params, ctx):
    y = np.tanh(inputs[0])
    return y, y


def backward(layer, g, y):
    return [g * (1 - y**2)], {}
