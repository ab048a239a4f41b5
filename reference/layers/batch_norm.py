"""batch_norm, per channel (axis 1 of [N, C, ...]) over the batch and every spatial axis; m values each.

training:  μ = mean x,  σ² = mean (x - μ)²  (biased),  x̂ = (x - μ) / √(σ² + ε),  y = weight x̂ + bias;
           running_mean ← (1 - momentum) running_mean + momentum μ
           running_var  ← (1 - momentum) running_var  + momentum σ² m / (m - 1)   (unbiased)
eval:      x̂ = (x - running_mean) / √(running_var + ε).

momentum weighs the *new* statistic (torch's convention; Keras's momentum is 1 - this one).
Backward in training goes through μ and σ² as well:
dL/dx = (1 / (m √(σ² + ε))) (m ĝ - Σ ĝ - x̂ Σ ĝ x̂) with ĝ = weight ⊙ g, sums per channel.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import BatchNorm


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))  # everything but the channel axis


def _per_channel(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A [C] vector shaped to broadcast against x = [N, C, ...]."""
    return v.reshape(1, x.shape[1], *([1] * (x.ndim - 2)))


def _buffer(ctx: ForwardContext, name: str) -> np.ndarray:
    if name not in ctx.buffers:
        raise KeyError(f"batch_norm needs its buffer `{name}`")
    return ctx.buffers[name]


def forward(layer: BatchNorm, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    running_mean, running_var = _buffer(ctx, "running_mean"), _buffer(ctx, "running_var")
    weight, bias = _per_channel(params["weight"], x), _per_channel(params["bias"], x)
    if not ctx.training:
        inv_std = _per_channel(1.0 / np.sqrt(running_var + layer.epsilon), x)
        x_hat = (x - _per_channel(running_mean, x)) * inv_std
        return weight * x_hat + bias, (False, x_hat, inv_std, weight, None)

    axes = _axes(x)
    m = x.size // x.shape[1]
    if m < 2:  # the unbiased variance needs two values; torch refuses too
        raise ValueError(f"batch_norm in training needs more than one value per channel, got {list(x.shape)}")
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)  # biased: it normalizes
    inv_std = _per_channel(1.0 / np.sqrt(var + layer.epsilon), x)
    x_hat = (x - _per_channel(mean, x)) * inv_std
    mom = layer.momentum
    running_mean[...] = (1.0 - mom) * running_mean + mom * mean  # in place: the caller's buffers
    running_var[...] = (1.0 - mom) * running_var + mom * var * (m / (m - 1))
    return weight * x_hat + bias, (True, x_hat, inv_std, weight, m)


def backward(layer: BatchNorm, grad_output: np.ndarray, cache: Cache) -> Gradients:
    training, x_hat, inv_std, weight, m = cache
    axes = _axes(grad_output)
    grads = {"weight": (grad_output * x_hat).sum(axis=axes), "bias": grad_output.sum(axis=axes)}
    g_hat = grad_output * weight
    if not training:  # the running statistics are constants
        return [g_hat * inv_std], grads
    dx = inv_std / m * (m * g_hat - g_hat.sum(axis=axes, keepdims=True)
                        - x_hat * (g_hat * x_hat).sum(axis=axes, keepdims=True))
    return [dx], grads
