"""leaky_relu: y = x if x > 0 else negative_slope · x (the standard's slope is 0.01, Keras's 0.3)."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import Shapes, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.reference.tolerances import kink_error, kink_shift
from lockstep.spec.layers import LeakyReLU


def forward(layer: LeakyReLU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    slope = np.where(x > 0, 1.0, layer.negative_slope)  # dy/dx, also the factor y = slope · x
    return x * slope, slope


def backward(layer: LeakyReLU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    slope = cache
    return [grad_output * slope], {}


def magnitude(layer: LeakyReLU, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max(1, slope)·A_x: the Lipschitz constant across both branches; the product rounds within it."""
    return max(1.0, layer.negative_slope) * mags[0], None


def magnitude_backward(layer: LeakyReLU, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = slope(x)·G (the slope is an exact constant on the reference's branch)."""
    return backward(layer, grad_mag, cache)


def branch_error(layer: LeakyReLU, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray,
                 cache: Cache) -> list[np.ndarray | None]:
    """An x within its error bound of 0 (not on it) may take the other slope: |1 − slope|·|g|."""
    return [kink_error(inputs[0], errors[0], abs(1.0 - layer.negative_slope) * np.abs(grad))]


def kink_loss_error(layer: LeakyReLU, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray,
                    cache: Cache) -> float:
    """The loss's error an input computed across 0 adds beyond the adjoint form's (`kink_shift`, jump |1 − slope|)."""
    return kink_shift(inputs[0], errors[0], grad, abs(1.0 - layer.negative_slope))


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: LeakyReLU, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """One product (slope · x) on the negative side."""
    return 1


batch_length = no_parameters
backward_excess = no_excess
