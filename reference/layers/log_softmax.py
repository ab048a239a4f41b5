"""log_softmax along a per-sample axis: y = (x - max) - log Σ e^(x - max);  dL/dx = g - e^y Σ g.

`axis` is read as in softmax (per-sample; negative counts from the end).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import log_softmax
from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import FUNCTION_ULPS, Shapes, first, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.reference.layers.softmax import batched_axis
from lockstep.spec.layers import LogSoftmax


def forward(layer: LogSoftmax, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    ax = batched_axis(layer.axis)
    y = log_softmax(x, ax)
    return y, y


def backward(layer: LogSoftmax, grad_output: np.ndarray, cache: Cache) -> Gradients:
    y = cache
    ax = batched_axis(layer.axis)
    return [grad_output - np.exp(y) * grad_output.sum(axis=ax, keepdims=True)], {}


def magnitude(layer: LogSoftmax, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max(A + Σ sA, |x − m| + Σ s|x − m| + log S + 1), s = eʸ, S = Σ e^(x−m) (log S = −max y):
    input errors through I − 1sᵀ; own: the shift, the exponent's rounding, log S (+1: S's relative error)."""
    (x,) = inputs
    ax = batched_axis(layer.axis)
    y = cache
    s = np.exp(y)
    shift = np.abs(x - x.max(axis=ax, keepdims=True))
    prop = mags[0] + np.sum(s * mags[0], axis=ax, keepdims=True)
    own = shift + np.sum(s * shift, axis=ax, keepdims=True) - y.max(axis=ax, keepdims=True) + 1.0
    a_y = np.maximum(prop, own)
    return a_y, a_y


def magnitude_backward(layer: LogSoftmax, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dx = g − s Σ g: G_x = G + s Σ G (g's error, and the own abs terms) + s |Σ g| A_y (s = eʸ carries y's)."""
    ax = batched_axis(layer.axis)
    s = np.exp(cache)
    return [grad_mag + s * np.sum(grad_mag, axis=ax, keepdims=True)
            + s * np.abs(np.sum(grad, axis=ax, keepdims=True)) * mag_cache], {}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: LogSoftmax, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """The sum over the axis, exp and log (two functions), one subtraction."""
    return first(input_shapes)[layer.axis] + 2 * FUNCTION_ULPS + 1


batch_length = no_parameters
backward_excess = no_excess
