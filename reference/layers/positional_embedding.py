"""positional_embedding: y[t, :] = x[t, :] + P[t, :] over a sequence [N, T, d], T ≤ max_length.

learned:    P = W[:T], W [max_length, d] a parameter; dL/dW[t] = Σ_batch g[:, t] for t < T, 0 for the rows past T.
sinusoidal: P[t, j] = sin(t ω_j) for even j, cos(t ω_j) for odd j, ω_j = base^(−2⌊j/2⌋/d) (Vaswani et al. 2017,
            interleaved), computed in float64 and rounded once to the working precision; no parameters.
dL/dx = g.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import Shapes, first, no_excess
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import PositionalEmbedding


def sinusoidal_table(length: int, d: int, base: float) -> np.ndarray:
    """The standard's sinusoidal code [length, d] in float64 (every backend is handed this table)."""
    j = np.arange(d)
    omega = np.power(float(base), -(2.0 * (j // 2)) / d)
    angle = np.arange(length, dtype=np.float64)[:, None] * omega[None, :]
    return np.where(j % 2 == 0, np.sin(angle), np.cos(angle))


def _code(layer: PositionalEmbedding, params: Params, t: int, d: int) -> np.ndarray:
    if layer.encoding == "learned":
        return params["weight"][:t]
    return sinusoidal_table(t, d, layer.base)


def forward(layer: PositionalEmbedding, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    _, t, d = x.shape
    code = _code(layer, params, t, d)
    return x + code, (t, d, code)


def backward(layer: PositionalEmbedding, grad_output: np.ndarray, cache: Cache) -> Gradients:
    t, d, _ = cache
    grads: Params = {}
    if layer.encoding == "learned":
        dw = np.zeros((layer.max_length, d))
        dw[:t] = grad_output.sum(axis=0)
        grads["weight"] = dw
    return [grad_output], grads


def magnitude(layer: PositionalEmbedding, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = A + |P|: the addition's rounding and the table's own rounding to the working precision lie within."""
    _, _, code = cache
    return mags[0] + np.abs(code), None


def magnitude_backward(layer: PositionalEmbedding, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache,
                       mag_cache: Cache, params: Params) -> Gradients:
    """G_x = G; learned: dW[:T] = Σ_batch G."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: PositionalEmbedding, input_shapes: Shapes, *, training: bool = False,
                     batch: int = 1) -> int:
    """One addition, and the code's rounding to the working precision on its way in."""
    return 2


def batch_length(layer: PositionalEmbedding, input_shapes: Shapes, batch: int) -> int:
    """learned: each used row's gradient sums over the batch (one position each); sinusoidal: no parameters."""
    return batch if layer.encoding == "learned" and first(input_shapes) else 0


backward_excess = no_excess
