"""reshape: per-sample row-major reshape; the batch axis is kept."""


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    return x.reshape(x.shape[0], *layer.output_shape([x.shape[1:]])), x.shape


def backward(layer, g, shape):
    return [g.reshape(shape)], {}
