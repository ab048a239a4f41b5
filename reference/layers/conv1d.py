"""conv1d, channels-first [N, C, L], kernel [F, C/groups, k] (a cross-correlation, like every framework):

y[n, f, l] = b[f] + Σ_{c in group(f)} Σ_i w[f, c, i] · x_pad[n, c, l·stride + i·dilation],

group(f) the C/groups input channels of filter f's group; padding as resolved by the spec.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._conv import (
    conv_backward,
    conv_backward_excess,
    conv_batch_length,
    conv_forward,
    conv_reduction_length,
)
from lockstep.reference.layers._magnitude import Mags, absolute
from lockstep.reference.layers._rules import Shapes
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Conv1d


def forward(layer: Conv1d, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    return conv_forward(layer, inputs[0], params)


def backward(layer: Conv1d, grad_output: np.ndarray, cache: Cache) -> Gradients:
    return conv_backward(layer, grad_output, cache)


def magnitude(layer: Conv1d, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = conv(A_x, |W|) + |b|: each output is a dot product over its window (zero padding is exact)."""
    return conv_forward(layer, mags[0], absolute(params))


def magnitude_backward(layer: Conv1d, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dx: G scattered through |W|;  dW: Σ window(A_x) G;  db: Σ G (the conv backward, on magnitudes)."""
    return conv_backward(layer, grad_mag, mag_cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: Conv1d, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """A dot product over C/groups · ∏kernel inputs, each factor rounded on its way in, then the bias."""
    return conv_reduction_length(layer, input_shapes, 1)


def batch_length(layer: Conv1d, input_shapes: Shapes, batch: int) -> int:
    """The kernel and bias gradients sum over the batch and every output position."""
    return conv_batch_length(layer, input_shapes, batch)


def backward_excess(layer: Conv1d, input_shapes: Shapes) -> int:
    """dx sums over filters/groups · ∏kernel instead of C/groups · ∏kernel."""
    return conv_backward_excess(layer, input_shapes, 1)
