"""relu: y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at the kink, like every framework)."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import ReLU


def forward(layer: ReLU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    return np.maximum(x, 0.0), x > 0  # np.maximum keeps NaN, so non-finite runs are reported, not hidden


def backward(layer: ReLU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    positive = cache
    return [np.where(positive, grad_output, 0.0)], {}
