"""sigmoid: y = σ(x) = 1 / (1 + e^-x); dy/dx = y (1 - y)."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Sigmoid


def forward(layer: Sigmoid, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    y = sigmoid(inputs[0])
    return y, y


def backward(layer: Sigmoid, grad_output: np.ndarray, cache: Cache) -> Gradients:
    y = cache
    return [grad_output * y * (1.0 - y)], {}
