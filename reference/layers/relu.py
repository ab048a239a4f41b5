"""relu: max(x, 0); the derivative at 0 is 0."""


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    return x * (x > 0), x > 0


def backward(layer, g, mask):
    return [g * mask], {}
