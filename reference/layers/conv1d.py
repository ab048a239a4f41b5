"""conv1d, channels-first [N, C, L], kernel [F, C/groups, k] (a cross-correlation, like every framework):

y[n, f, l] = b[f] + Σ_{c in group(f)} Σ_i w[f, c, i] · x_pad[n, c, l·stride + i·dilation],

group(f) the C/groups input channels of filter f's group; padding as resolved by the spec.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._conv import conv_backward, conv_forward
from lockstep.reference.layers._magnitude import Mags, absolute
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
