"""dense: y = x W + b over the last axis of an input of any rank; W is [in, out] (not torch's [out, in]).

dL/dx = g Wᵀ;  dL/dW = Σ over every leading position of xᵀ g;  dL/db = Σ g.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Dense


def forward(layer: Dense, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    w = params["weight"]
    y = x @ w
    if layer.use_bias:
        y = y + params["bias"]
    return y, (x, w)


def backward(layer: Dense, grad_output: np.ndarray, cache: Cache) -> Gradients:
    x, w = cache
    x2 = x.reshape(-1, x.shape[-1])  # every leading position is one more row
    g2 = grad_output.reshape(-1, grad_output.shape[-1])
    grads = {"weight": x2.T @ g2}
    if layer.use_bias:
        grads["bias"] = g2.sum(axis=0)
    return [grad_output @ w.T], grads
