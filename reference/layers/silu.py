"""silu (swish): y = x σ(x); dy/dx = σ(x) (1 + x (1 - σ(x)))."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import SiLU


def forward(layer: SiLU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    s = sigmoid(x)
    return x * s, (x, s)


def backward(layer: SiLU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    x, s = cache
    return [grad_output * s * (1.0 + x * (1.0 - s))], {}
