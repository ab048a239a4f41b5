"""dense: y = x W + b over the last axis of an input of any rank; W is [in, out] (not torch's [out, in]).

dL/dx = g Wᵀ;  dL/dW = Σ over every leading position of xᵀ g;  dL/db = Σ g.
Tied (`tied_to` an embedding): W = Eᵀ for the table E [units, in]; dL/dE = (Σ xᵀ g)ᵀ, which the model adds to
the embedding's own gradient of E.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags, absolute
from lockstep.reference.layers._rules import PRODUCT_ROUNDING, Shapes, first
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Dense


def _weight(layer: Dense, params: Params) -> np.ndarray:
    """W in [in, out]: the layer's own, or (`tied_to`) the embedding's table [units, in] transposed."""
    return params["weight"].T if layer.tied_to else params["weight"]


def forward(layer: Dense, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    w = _weight(layer, params)
    y = x @ w
    if layer.use_bias:
        y = y + params["bias"]
    return y, (x, w)


def backward(layer: Dense, grad_output: np.ndarray, cache: Cache) -> Gradients:
    x, w = cache
    x2 = x.reshape(-1, x.shape[-1])  # every leading position is one more row
    g2 = grad_output.reshape(-1, grad_output.shape[-1])
    grads = {"weight": g2.T @ x2 if layer.tied_to else x2.T @ g2}  # tied: in the table's layout [units, in]
    if layer.use_bias:
        grads["bias"] = g2.sum(axis=0)
    return [grad_output @ w.T], grads


def magnitude(layer: Dense, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = A_x |W| + |b|: Higham's dot-product bound; A_x ≥ |x| makes it cover the own rounding too."""
    return forward(layer, mags, absolute(params), ForwardContext())


def magnitude_backward(layer: Dense, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dx: G |W|ᵀ;  dW: Σ A_xᵀ G;  db: Σ G (the layer's own backward, on magnitudes)."""
    return backward(layer, grad_mag, mag_cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: Dense, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """x W + b: a dot product over the `in` features, each factor rounded on its way in, then the bias."""
    return first(input_shapes)[-1] + PRODUCT_ROUNDING + 1


def batch_length(layer: Dense, input_shapes: Shapes, batch: int) -> int:
    """dW and db sum over the batch and every leading position."""
    return batch * math.prod(first(input_shapes)[:-1])


def backward_excess(layer: Dense, input_shapes: Shapes) -> int:
    """dx sums over the `units` outputs where the forward summed over the inputs."""
    return max(0, layer.units - first(input_shapes)[-1])
