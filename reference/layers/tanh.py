"""tanh: y = tanh(x); dy/dx = 1 - y²."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Tanh


def forward(layer: Tanh, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    y = np.tanh(inputs[0])
    return y, y


def backward(layer: Tanh, grad_output: np.ndarray, cache: Cache) -> Gradients:
    y = cache
    return [grad_output * (1.0 - y**2)], {}
