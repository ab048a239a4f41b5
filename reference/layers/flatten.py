"""flatten: [N, d1, ..., dk] -> [N, d1 · ... · dk], row-major over the channels-first layout.

The order matters: a channels-last framework flattens [H, W, C] and must transpose first to agree.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import exact, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Flatten


def forward(layer: Flatten, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    return x.reshape(x.shape[0], -1), x.shape


def backward(layer: Flatten, grad_output: np.ndarray, cache: Cache) -> Gradients:
    shape = cache
    return [grad_output.reshape(shape)], {}


def magnitude(layer: Flatten, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = A_x, flattened: moving values rounds nothing."""
    return forward(layer, mags, params, ForwardContext())[0], None


def magnitude_backward(layer: Flatten, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = G, reshaped back."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = exact  # it moves values and never rounds
batch_length = no_parameters
backward_excess = no_excess
