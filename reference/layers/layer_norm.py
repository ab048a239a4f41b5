"""layer_norm: each sample normalized over its last `dims` axes (biased variance); y = weight x̂ + bias."""

import numpy as np


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    axes = tuple(range(x.ndim - layer.dims, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + layer.epsilon)
    xhat = (x - mean) * inv
    return params["weight"] * xhat + params["bias"], (xhat, inv, params["weight"], axes)


def backward(layer, g, cache):
    xhat, inv, w, axes = cache
    lead = tuple(range(g.ndim - len(axes)))
    grads = {"weight": (g * xhat).sum(axis=lead), "bias": g.sum(axis=lead)}
    dxhat = g * w
    m = int(np.prod([g.shape[a] for a in axes]))
    dx = inv / m * (m * dxhat - dxhat.sum(axis=axes, keepdims=True)
                    - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True))
    return [dx], grads
