"""elu: y = x if x > 0 else α (e^x - 1); dy/dx = 1 if x > 0 else α e^x (computed so: y + α, the same value in
exact arithmetic, cancels to 0 below x ≈ -37, where α e^x is still 1e-16 of α)."""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._magnitude import Mags, activation, activation_backward
from lockstep.reference.layers._rules import no_excess, no_parameters, one_function
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.reference.tolerances import kink_error, kink_shift
from lockstep.spec.layers import ELU


def forward(layer: ELU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    negative = layer.alpha * np.expm1(np.minimum(x, 0.0))  # expm1: exact near 0; min: no overflow for x > 0
    return np.where(x > 0, x, negative), (x > 0, negative, x)


def backward(layer: ELU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    positive, _, x = cache
    return [grad_output * np.where(positive, 1.0, layer.alpha * np.exp(np.minimum(x, 0.0)))], {}


def magnitude(layer: ELU, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """x > 0: A_x;  x ≤ 0: max(α eˣ A_x, α(eˣ + 1)) (the local slope; eˣ − 1 cancels near 0)."""
    positive, negative, _ = cache
    ex = negative / layer.alpha + 1.0  # eˣ on the negative side
    own = np.where(positive, 0.0, layer.alpha * (ex + 1.0))
    a_y = activation(np.where(positive, 1.0, layer.alpha * ex), mags[0], own)
    return a_y, (mags[0], ex, a_y)


def magnitude_backward(layer: ELU, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """x > 0: G.  x ≤ 0: f′ = α eˣ (from x: own α eˣ, error α eˣ·A_x) or y + α (from the result: own
    |y| + α, error A_y): m(f′) = max(α eˣ A_x, A_y, |y| + α), G_x = α eˣ G + |g|·m(f′)."""
    positive, negative, _ = cache
    a_x, ex, a_y = mag_cache
    slope = layer.alpha * ex
    m = np.maximum(np.maximum(slope * a_x, a_y), np.abs(negative) + layer.alpha)
    g_neg = activation_backward(slope, m, grad, grad_mag)
    return [np.where(positive, grad_mag, g_neg)], {}


def branch_error(layer: ELU, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray, cache: Cache
                 ) -> list[np.ndarray | None]:
    """An x within its error bound of 0 (not on it) may take the other side, whose slope there is α, not 1:
    |1 − α|·|g| (plus α's e^x − 1 ≈ x, inside the first-order bound)."""
    return [kink_error(inputs[0], errors[0], abs(1.0 - layer.alpha) * np.abs(grad))]


def kink_loss_error(layer: ELU, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray, cache: Cache
                    ) -> float:
    """The loss's error an input computed across 0 adds beyond the adjoint form's (`kink_shift`, jump |1 − α|)."""
    return kink_shift(inputs[0], errors[0], grad, abs(1.0 - layer.alpha))


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = one_function  # one library function and two roundings around it
batch_length = no_parameters
backward_excess = no_excess
