"""elu: y = x if x > 0 else α (e^x - 1); dy/dx = 1 if x > 0 else α e^x = y + α."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import ELU


def forward(layer: ELU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    negative = layer.alpha * np.expm1(np.minimum(x, 0.0))  # expm1: exact near 0; min: no overflow for x > 0
    return np.where(x > 0, x, negative), (x > 0, negative)


def backward(layer: ELU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    positive, negative = cache
    return [grad_output * np.where(positive, 1.0, negative + layer.alpha)], {}
