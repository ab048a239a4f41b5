"""sigmoid: 1 / (1 + e^-x)."""

from lockstep.reference.layers._act import sigmoid


def forward(layer, inputs, params, ctx):
    y = sigmoid(inputs[0])
    return y, y


def backward(layer, g, y):
    return [g * y * (1 - y)], {}
