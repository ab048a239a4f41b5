"""softmax along a per-sample axis: y = e^(x - max) / Σ e^(x - max);  dL/dx = y ⊙ (g - Σ g ⊙ y).

`axis` counts per-sample axes (0 is the first axis after the batch axis); a negative axis counts from
the end, which is the same axis with or without the batch axis.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags, softmax, softmax_backward
from lockstep.reference.layers._rules import FUNCTION_ULPS, Shapes, first, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Softmax


def batched_axis(axis: int) -> int:
    """The per-sample `axis` in an array that carries the batch axis first."""
    return axis if axis < 0 else axis + 1


def forward(layer: Softmax, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    ax = batched_axis(layer.axis)
    e = np.exp(x - x.max(axis=ax, keepdims=True))  # shifting by the max changes nothing but overflow
    y = e / e.sum(axis=ax, keepdims=True)
    return y, y


def backward(layer: Softmax, grad_output: np.ndarray, cache: Cache) -> Gradients:
    y = cache
    ax = batched_axis(layer.axis)
    return [y * (grad_output - (grad_output * y).sum(axis=ax, keepdims=True))], {}


def magnitude(layer: Softmax, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max(y(A + Σ yA), y(|x − m| + Σ y|x − m| + 1)), m the row max (`_magnitude.softmax`)."""
    (x,) = inputs
    ax = batched_axis(layer.axis)
    a_y = softmax(cache, np.abs(x - x.max(axis=ax, keepdims=True)), mags[0], ax)
    return a_y, a_y


def magnitude_backward(layer: Softmax, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = y(G + Σ G y) + |g − Σ g y| A_y + y Σ |g| A_y: dx = y ⊙ (g − Σ g y) cancels, its magnitude does not."""
    return [softmax_backward(cache, mag_cache, grad, grad_mag, batched_axis(layer.axis))], {}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: Softmax, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """The sum over the axis, exp and the division (two functions), one subtraction."""
    return first(input_shapes)[layer.axis] + 2 * FUNCTION_ULPS + 1


batch_length = no_parameters
backward_excess = no_excess
