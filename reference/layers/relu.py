"""relu: y = max(x, 0); dy/dx = 1 where x > 0, else 0 (0 at the kink, like every framework)."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import exact, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.reference.tolerances import kink_error, kink_shift
from lockstep.spec.layers import ReLU


def forward(layer: ReLU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    return np.maximum(x, 0.0), x > 0  # np.maximum keeps NaN, so non-finite runs are reported, not hidden


def backward(layer: ReLU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    positive = cache
    return [np.where(positive, grad_output, 0.0)], {}


def magnitude(layer: ReLU, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = A_x: relu is 1-Lipschitz and exact (also where the error moves x across 0)."""
    return mags[0], None


def magnitude_backward(layer: ReLU, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = G where x > 0 (the reference's branch; a sign flip within the forward error is `branch_error`'s)."""
    return backward(layer, grad_mag, cache)


def branch_error(layer: ReLU, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray, cache: Cache
                 ) -> list[np.ndarray | None]:
    """An x within its error bound of 0 (but not 0, which is the standard's 0) may take the other slope: |g|."""
    return [kink_error(inputs[0], errors[0], np.abs(grad))]


def kink_loss_error(layer: ReLU, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray,
                    cache: Cache) -> float:
    """The loss's error an input computed across 0 adds beyond the adjoint form's (`kink_shift`, slope jump 1)."""
    return kink_shift(inputs[0], errors[0], grad, 1.0)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = exact  # it compares values and never rounds
batch_length = no_parameters
backward_excess = no_excess
