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

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags, normalize, normalize_backward
from lockstep.reference.layers._moments import normalize as normalize_moments
from lockstep.reference.layers._rules import FUNCTION_ULPS, Shapes, first, no_excess
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
    x_hat, inv_std, kept_mean, kept_var = normalize_moments(x, axes, layer.epsilon)
    mean = kept_mean.reshape(x.shape[1])
    var = kept_var.reshape(x.shape[1])  # biased: it normalizes (∞ where it passes float64's range: the buffer's value)
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


def magnitude(layer: BatchNorm, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = |w| A_x̂ + |b|. Eval: A_x̂ = r·max(A_x, |x| + |running_mean|) (x·wr + (b − μ wr) cancels);
    training: `_magnitude.normalize` over the batch and spatial axes (the batch statistics)."""
    (x,) = inputs
    training, x_hat, inv_std, weight, _ = cache
    if training:
        a_hat, rho = normalize(x, mags[0], x_hat, inv_std, _axes(x))
    else:
        a_hat, rho = inv_std * np.maximum(mags[0], np.abs(x) + np.abs(_per_channel(params["running_mean"], x))), None
    return np.abs(weight) * a_hat + np.abs(_per_channel(params["bias"], x)), (a_hat, rho)


def magnitude_backward(layer: BatchNorm, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dw: Σ A_x̂ G;  db: Σ G;  dx: |w| r G in eval, `_magnitude.normalize_backward` in training."""
    training, x_hat, inv_std, weight, _ = cache
    a_hat, rho = mag_cache
    axes = _axes(grad)
    grads = {"weight": (grad_mag * a_hat).sum(axis=axes), "bias": grad_mag.sum(axis=axes)}
    if not training:
        return [np.abs(weight) * inv_std * grad_mag], grads
    return [normalize_backward(grad, grad_mag, weight, x_hat, a_hat, inv_std, rho, axes)], grads


def magnitude_buffers(layer: BatchNorm, x: np.ndarray, a_x: np.ndarray, params: Params) -> dict[str, np.ndarray]:
    """M of the running statistics after one training forward (params: the buffers before it).

    μ = mean x: M_μ = mean A_x;  σ² = mean (x − μ)²: M_σ² = mean 2|x − μ|(A_x + M_μ) + σ² (its own sum);
    running ← (1 − momentum)·running + momentum·statistic (× m/(m − 1) for the variance):
    M = (1 − momentum)|running| + momentum·M_statistic. Their length is the input's plus `layer_length`."""
    axes = _axes(x)
    m = x.size // x.shape[1]
    mom = layer.momentum
    m_mean = a_x.mean(axis=axes)
    dev = np.abs(x - _per_channel(x.mean(axis=axes), x))
    m_var = (2.0 * dev * (a_x + _per_channel(m_mean, x)) + dev * dev).mean(axis=axes) * (m / (m - 1))
    return {"running_mean": (1.0 - mom) * np.abs(params["running_mean"]) + mom * m_mean,
            "running_var": (1.0 - mom) * np.abs(params["running_var"]) + mom * m_var}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: BatchNorm, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """Training: mean and variance over batch × positions (two passes), a root and a division, the affine
    product and sum; eval: the running statistics' root and division, the affine map."""
    x = first(input_shapes)
    return 2 * batch * math.prod(x[1:]) + 2 * FUNCTION_ULPS + 3 if training else FUNCTION_ULPS + 3


def batch_length(layer: BatchNorm, input_shapes: Shapes, batch: int) -> int:
    """The weight and bias gradients sum over the batch and every position of a channel."""
    return batch * math.prod(first(input_shapes)[1:])


backward_excess = no_excess
