"""embedding: y[..., :] = W[index, :] for integer indices in [0, input_dim); W is [input_dim, output_dim].

dL/dW adds each position's gradient row onto its index's row (repeated indices accumulate);
the indices get no gradient (None).
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags, absolute
from lockstep.reference.layers._rules import Shapes, exact, first, no_excess
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import Embedding


def _indices(x: np.ndarray, input_dim: int) -> np.ndarray:
    """Integer indices, refusing what a framework would silently wrap, clamp or truncate."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
            raise ValueError("embedding indices must be integers")
    idx = x.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= input_dim):
        raise ValueError(f"embedding index out of range [0, {input_dim}): found {idx.min()}..{idx.max()}")
    return idx


def forward(layer: Embedding, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    idx = _indices(inputs[0], layer.input_dim)
    w = params["weight"]
    return w[idx], (idx, w.shape)


def backward(layer: Embedding, grad_output: np.ndarray, cache: Cache) -> Gradients:
    idx, shape = cache
    dw = np.zeros(shape)
    np.add.at(dw, idx.reshape(-1), grad_output.reshape(-1, shape[1]))  # scatter-add: repeats accumulate
    return [None], {"weight": dw}


def magnitude(layer: Embedding, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = |W|[index]: a gather is exact (W's rounding to the working precision is the final rounding)."""
    return forward(layer, inputs, absolute(params), ForwardContext())[0], None


def magnitude_backward(layer: Embedding, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """dW: G scatter-added onto the indexed rows; the indices get none."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = exact  # a row lookup never rounds


def batch_length(layer: Embedding, input_shapes: Shapes, batch: int) -> int:
    """The table's gradient sums over the batch and every index position."""
    return batch * math.prod(first(input_shapes))


backward_excess = no_excess
