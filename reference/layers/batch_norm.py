"""batch_norm over the batch and spatial axes, per channel (axis 1).

Training: x̂ = (x - μ_B) / sqrt(σ²_B + ε) with the biased batch variance; running statistics update as
running = (1 - momentum) running + momentum stat, using the *unbiased* variance m/(m-1) σ²_B.
Eval: x̂ = (x - running_mean) / sqrt(running_var + ε). y = weight x̂ + bias.
"""

import numpy as np


def _axes(x):
    return (0, *range(2, x.ndim))


def _bshape(x):
    return (1, x.shape[1], *([1] * (x.ndim - 2)))


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    axes, bs = _axes(x), _bshape(x)
    w, b = params["weight"].reshape(bs), params["bias"].reshape(bs)
    if ctx.training:
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError("batch_norm in training needs more than one value per channel")
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        inv = 1.0 / np.sqrt(var + layer.epsilon)
        xhat = (x - mean.reshape(bs)) * inv.reshape(bs)
        mom = layer.momentum
        rm, rv = ctx.buffers["running_mean"], ctx.buffers["running_var"]
        rm[...] = (1 - mom) * rm + mom * mean
        rv[...] = (1 - mom) * rv + mom * var * m / (m - 1)
        return w * xhat + b, (True, xhat, inv.reshape(bs), w, m)
    inv = 1.0 / np.sqrt(ctx.buffers["running_var"] + layer.epsilon)
    xhat = (x - ctx.buffers["running_mean"].reshape(bs)) * inv.reshape(bs)
    return w * xhat + b, (False, xhat, inv.reshape(bs), w, None)


def backward(layer, g, cache):
    training, xhat, inv, w, m = cache
    axes = _axes(g)
    grads = {"weight": (g * xhat).sum(axis=axes), "bias": g.sum(axis=axes)}
    dxhat = g * w
    if not training:
        return [dxhat * inv], grads
    dx = inv / m * (m * dxhat - dxhat.sum(axis=axes, keepdims=True)
                    - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True))
    return [dx], grads
