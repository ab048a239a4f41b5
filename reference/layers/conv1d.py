"""conv1d, channels-first [N, C, L], kernel [F, C/groups, k] (a cross-correlation, like every framework):

y[n, f, l] = b[f] + Σ_{c in group(f)} Σ_i w[f, c, i] · x_pad[n, c, l·stride + i·dilation],

group(f) the C/groups input channels of filter f's group; padding as resolved by the spec.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._conv import conv_backward, conv_forward
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Conv1d


def forward(layer: Conv1d, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    return conv_forward(layer, inputs[0], params)


def backward(layer: Conv1d, grad_output: np.ndarray, cache: Cache) -> Gradients:
    return conv_backward(layer, grad_output, cache)
