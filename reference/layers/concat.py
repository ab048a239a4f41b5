"""concat along a per-sample axis (default 0, the channel axis); the gradient splits back into pieces."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import exact, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Concat


def forward(layer: Concat, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    rank = inputs[0].ndim - 1  # per-sample rank
    ax = layer.axis % rank + 1  # the same axis with the batch axis in front
    return np.concatenate(inputs, axis=ax), (ax, [x.shape[ax] for x in inputs])


def backward(layer: Concat, grad_output: np.ndarray, cache: Cache) -> Gradients:
    ax, sizes = cache
    return list(np.split(grad_output, np.cumsum(sizes)[:-1], axis=ax)), {}


def magnitude(layer: Concat, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = the inputs' A, concatenated (exact)."""
    return forward(layer, mags, params, ForwardContext())[0], None


def magnitude_backward(layer: Concat, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G split back into the pieces."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = exact  # it moves values and never rounds
batch_length = no_parameters
backward_excess = no_excess
