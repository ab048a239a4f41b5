"""global_avg_pool: [N, C, *spatial] -> [N, C], the mean over every spatial axis."""

import numpy as np


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    return x.mean(axis=tuple(range(2, x.ndim))), x.shape


def backward(layer, g, shape):
    count = int(np.prod(shape[2:]))
    return [np.broadcast_to(g.reshape(*g.shape, *([1] * (len(shape) - 2))), shape) / count], {}
