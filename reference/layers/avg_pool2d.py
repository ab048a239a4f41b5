"""avg_pool2d: the mean of each window over the positions inside the input (padding is not counted)."""

import numpy as np

from lockstep.reference.layers._conv import pad, scatter_windows, unpad, windows


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    kernel, stride, pads = layer.geometry(x.shape[1:])
    out = layer.output_shape([x.shape[1:]])[1:]
    xp = pad(x, pads)
    ones = pad(np.ones((1, 1, *x.shape[2:])), pads)
    count = windows(ones, kernel, stride, (1, 1), out).sum(axis=(-2, -1))  # [1, 1, *out]
    y = windows(xp, kernel, stride, (1, 1), out).sum(axis=(-2, -1)) / count
    return y, (count, xp.shape, kernel, stride, out, pads)


def backward(layer, g, cache):
    count, padded, kernel, stride, out, pads = cache
    dwin = np.broadcast_to((g / count)[..., None, None], (*g.shape, *kernel))
    return [unpad(scatter_windows(dwin, padded, kernel, stride, (1, 1), out), pads)], {}
