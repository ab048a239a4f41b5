"""max_pool2d: the maximum of each window; padding is -inf so it never wins.
Ties send the gradient to the first maximum in row-major window order."""

import numpy as np

from lockstep.reference.layers._conv import pad, scatter_windows, unpad, windows


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    kernel, stride, pads = layer.geometry(x.shape[1:])
    out = layer.output_shape([x.shape[1:]])[1:]
    xp = pad(x, pads, -np.inf)
    win = windows(xp, kernel, stride, (1, 1), out)
    flat = win.reshape(*win.shape[:4], -1)
    arg = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return y, (arg, flat.shape, xp.shape, kernel, stride, out, pads)


def backward(layer, g, cache):
    arg, flat_shape, padded, kernel, stride, out, pads = cache
    dflat = np.zeros(flat_shape)
    np.put_along_axis(dflat, arg[..., None], g[..., None], axis=-1)
    dwin = dflat.reshape(*flat_shape[:4], *kernel)
    return [unpad(scatter_windows(dwin, padded, kernel, stride, (1, 1), out), pads)], {}
