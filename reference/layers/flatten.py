"""flatten: [N, d1, ..., dk] -> [N, d1 * ... * dk], row-major over the channels-first layout."""


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    return x.reshape(x.shape[0], -1), x.shape


def backward(layer, g, shape):
    return [g.reshape(shape)], {}
