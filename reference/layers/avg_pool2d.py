"""avg_pool2d over [N, C, H, W]: y = (Σ of the window's in-bounds values) / (number of in-bounds positions).

Padding is not counted (torch's count_include_pad=False, TensorFlow's 'same'); a window that overhangs
the border averages fewer values. dL/dx: each window's g / count, added onto the positions it covers.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._conv import pad, scatter_windows, unpad, windows
from lockstep.reference.layers._magnitude import Mags
from lockstep.reference.layers._rules import Shapes, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import AvgPool2d


def forward(layer: AvgPool2d, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    kernel, stride, pads = layer.geometry(x.shape[1:])
    out = layer.output_shape([x.shape[1:]])[1:]
    inside = pad(np.ones((1, 1, *x.shape[2:])), pads)  # 1 on the input, 0 on the padding
    count = windows(inside, kernel, stride, (1, 1), out).sum(axis=(-2, -1))  # [1, 1, P, Q]
    xp = pad(x, pads)
    y = windows(xp, kernel, stride, (1, 1), out).sum(axis=(-2, -1)) / count
    return y, (count, xp.shape, kernel, stride, out, pads)


def backward(layer: AvgPool2d, grad_output: np.ndarray, cache: Cache) -> Gradients:
    count, padded_shape, kernel, stride, out, pads = cache
    dwin = np.broadcast_to((grad_output / count)[..., None, None], (*grad_output.shape, *kernel))
    return [unpad(scatter_windows(dwin, padded_shape, kernel, stride, (1, 1), out), pads)], {}


def magnitude(layer: AvgPool2d, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = avg_pool(A_x): positive weights 1/count; the window sum's own rounding is at most that."""
    return forward(layer, mags, params, ForwardContext())[0], None


def magnitude_backward(layer: AvgPool2d, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = avg_pool's adjoint of G (positive weights)."""
    return backward(layer, grad_mag, cache)


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: AvgPool2d, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """A sum over the window, then one division."""
    k = layer.kernel_size
    return (k * k if isinstance(k, int) else math.prod(k)) + 1


batch_length = no_parameters
backward_excess = no_excess
