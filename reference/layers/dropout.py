"""dropout: eval y = x;  training y = x ⊙ mask / (1 - rate), so E[y] = x;  dL/dx = g ⊙ mask / (1 - rate).

The keep-mask is never drawn here: it comes from the standard's stream (`reference.random.dropout_mask`),
handed to every backend, so that all of them drop the same units at the same step.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import Shapes, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Dropout


def forward(layer: Dropout, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    if not ctx.training:
        return x, None
    if ctx.dropout_mask is None:
        if layer.rate == 0.0:  # the keep-mask of rate 0 keeps everything
            return x, None
        raise ValueError(f"dropout `{layer.name or 'dropout'}` in training needs the standard's keep-mask "
                         "(ForwardContext.dropout_mask)")
    mask = np.asarray(ctx.dropout_mask)
    if mask.shape != x.shape:
        raise ValueError(f"dropout keep-mask has shape {list(mask.shape)}, the input {list(x.shape)}")
    scale = mask / (1.0 - layer.rate)
    return x * scale, scale


def backward(layer: Dropout, grad_output: np.ndarray, cache: Cache) -> Gradients:
    scale = cache
    return [grad_output if scale is None else grad_output * scale], {}


def magnitude(layer: Dropout, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = A_x ⊙ mask / (1 − rate) in training (the same keep-mask), A_x in eval."""
    scale = cache
    return (mags[0] if scale is None else mags[0] * scale), None


def magnitude_backward(layer: Dropout, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = G ⊙ mask / (1 − rate)."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: Dropout, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """Training: a product with the keep-mask and the 1/(1 − rate) scale; eval: the identity."""
    return 2 if training else 0


batch_length = no_parameters
backward_excess = no_excess
