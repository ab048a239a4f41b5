"""conv2d, channels-first [N, C, H, W], kernel [F, C/groups, kh, kw] (a cross-correlation):

y[n, f, p, q] = b[f] + Σ_{c in group(f)} Σ_{i, j} w[f, c, i, j] · x_pad[n, c, p·s₀ + i·d₀, q·s₁ + j·d₁],

group(f) the C/groups input channels of filter f's group; 'same' padding puts the odd element at the
bottom/right (spec.layers.same_padding), where TensorFlow puts it; torch needs an explicit pad for it.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._conv import conv_backward, conv_forward
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Conv2d


def forward(layer: Conv2d, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    return conv_forward(layer, inputs[0], params)


def backward(layer: Conv2d, grad_output: np.ndarray, cache: Cache) -> Gradients:
    return conv_backward(layer, grad_output, cache)
