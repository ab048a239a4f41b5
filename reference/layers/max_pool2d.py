"""max_pool2d over [N, C, H, W]: y[n, c, p, q] = max over the window at (p·s₀, q·s₁) of x padded with -inf,

so padding never wins (a window always holds at least one real value: the spec keeps padding < window).
The gradient goes to the window's maximum; on a tie, to the first one in row-major window order.
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._conv import pad, scatter_windows, unpad, windows
from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import exact, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import MaxPool2d


def forward(layer: MaxPool2d, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    kernel, stride, pads = layer.geometry(x.shape[1:])
    out = layer.output_shape([x.shape[1:]])[1:]
    xp = pad(x, pads, -np.inf)
    flat = windows(xp, kernel, stride, (1, 1), out).reshape(*x.shape[:2], *out, -1)  # [N, C, P, Q, kh·kw]
    arg = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    return y, (arg, flat.shape, xp.shape, kernel, stride, out, pads)


def backward(layer: MaxPool2d, grad_output: np.ndarray, cache: Cache) -> Gradients:
    arg, flat_shape, padded_shape, kernel, stride, out, pads = cache
    dflat = np.zeros(flat_shape)
    np.put_along_axis(dflat, arg[..., None], grad_output[..., None], axis=-1)
    dwin = dflat.reshape(*flat_shape[:4], *kernel)
    return [unpad(scatter_windows(dwin, padded_shape, kernel, stride, (1, 1), out), pads)], {}


def magnitude(layer: MaxPool2d, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max over the window of A_x: a max is 1-Lipschitz in the ∞-norm and exact."""
    return forward(layer, mags, params, ForwardContext())[0], None


def magnitude_backward(layer: MaxPool2d, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G routed to the reference's argmax (a near-tie that may flip it is `branch_error`'s)."""
    return backward(layer, grad_mag, cache)


def _windows_at_top(x: np.ndarray, error: np.ndarray, cache: Cache
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each window's values and error bounds (flattened, padding -inf and 0), and the reference's maximum and its
    error bound: what both kink rules (the gradient's `branch_error`, the loss's `kink_loss_error`) compare."""
    arg, flat_shape, _, kernel, stride, out, pads = cache
    xw = windows(pad(x, pads, -np.inf), kernel, stride, (1, 1), out).reshape(flat_shape)
    ew = windows(pad(error, pads, 0.0), kernel, stride, (1, 1), out).reshape(flat_shape)
    return xw, ew, np.take_along_axis(xw, arg[..., None], axis=-1), np.take_along_axis(ew, arg[..., None], axis=-1)


def branch_error(layer: MaxPool2d, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray,
                 cache: Cache) -> list[np.ndarray | None]:
    """A window whose runner-up is within the two values' error bounds of its maximum (but not equal: an
    exact tie is the standard's, the first) may route |g| to either: |g| at the maximum and at each such
    candidate. A near-tie that float32 cannot resolve is common where Adam moves neighbours equally."""
    arg, flat_shape, padded_shape, kernel, stride, out, pads = cache
    xw, ew, top, e_top = _windows_at_top(inputs[0], errors[0], cache)
    gap = top - xw
    near = (gap > 0) & (gap <= e_top + ew)
    if not near.any():
        return [None]
    g = np.abs(grad)[..., None]
    flips = np.where(near, g, 0.0)
    np.put_along_axis(flips, arg[..., None], np.where(near.any(axis=-1, keepdims=True), g, 0.0), axis=-1)
    dwin = flips.reshape(*flat_shape[:4], *kernel)
    return [unpad(scatter_windows(dwin, padded_shape, kernel, stride, (1, 1), out), pads)]


def kink_loss_error(layer: MaxPool2d, inputs: list[np.ndarray], errors: list[np.ndarray], grad: np.ndarray,
                    cache: Cache) -> float:
    """The loss's error beyond the adjoint form's, which moves a window's output with its maximum x_a: a candidate
    j with x_a − x_j ≤ e_a + e_j (an exact tie included) may be computed the larger, and the output is then
    larger by x̂_j − x̂_a ≤ e_a + e_j: Σ |g|·max_j (e_a + e_j) over such windows."""
    arg = cache[0]
    xw, ew, top, e_top = _windows_at_top(inputs[0], errors[0], cache)
    near = top - xw <= e_top + ew
    np.put_along_axis(near, arg[..., None], False, axis=-1)
    return float(np.sum(np.abs(grad) * np.where(near, e_top + ew, 0.0).max(axis=-1)))


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
reduction_length = exact  # it selects values and never rounds
batch_length = no_parameters
backward_excess = no_excess
