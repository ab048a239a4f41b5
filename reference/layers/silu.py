"""silu: x σ(x)."""

from lockstep.reference.layers._act import sigmoid


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    s = sigmoid(x)
    return x * s, (x, s)


def backward(layer, g, cache):
    x, s = cache
    return [g * (s + x * s * (1 - s))], {}
