"""conv2d, channels-first [N, C, H, W], kernel [F, C/groups, kh, kw] (a cross-correlation):

y[n, f, p, q] = b[f] + Σ_{c in group(f)} Σ_{i, j} w[f, c, i, j] · x_pad[n, c, p·s₀ + i·d₀, q·s₁ + j·d₁],

group(f) the C/groups input channels of filter f's group; 'same' padding puts the odd element at the
bottom/right (spec.layers.same_padding), where TensorFlow puts it; torch needs an explicit pad for it.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._conv import conv_backward, conv_forward
from lockstep.reference.layers._magnitude import Mags, absolute
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Conv2d


def forward(layer: Conv2d, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    return conv_forward(layer, inputs[0], params)


def backward(layer: Conv2d, grad_output: np.ndarray, cache: Cache) -> Gradients:
    return conv_backward(layer, grad_output, cache)


def magnitude(layer: Conv2d, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = conv(A_x, |W|) + |b|: each output is a dot product over its window (zero padding is exact)."""
    return conv_forward(layer, mags[0], absolute(params))


def magnitude_backward(layer: Conv2d, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dx: G scattered through |W|;  dW: Σ window(A_x) G;  db: Σ G (the conv backward, on magnitudes)."""
    return conv_backward(layer, grad_mag, mag_cache)
