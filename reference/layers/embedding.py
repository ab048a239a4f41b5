"""embedding: y[..., :] = weight[index, :]; the gradient adds rows back (repeated indices accumulate)."""

import numpy as np


def forward(layer, inputs, params, ctx):
    idx = np.asarray(inputs[0]).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= layer.input_dim):
        raise ValueError(f"embedding index out of range [0, {layer.input_dim})")
    return params["weight"][idx], (idx, params["weight"].shape)


def backward(layer, g, cache):
    idx, shape = cache
    dw = np.zeros(shape)
    np.add.at(dw, idx.reshape(-1), g.reshape(-1, shape[1]))
    return [None], {"weight": dw}
