"""Windows over channels-first arrays, shared by conv1d, conv2d and the pools, and the conv math itself.

A window view [N, C, *out, *kernel] of the padded input makes convolution one einsum and pooling one
reduction (im2col without the copy); its adjoint, `scatter_windows`, adds window gradients back onto the
input with one strided slice per kernel offset (a loop over kernel positions, never over samples).
Padding arrives resolved by the spec (`resolve_padding`: 'same' puts the odd element at the end), so
the math here only ever sees explicit (before, after) pairs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lockstep.reference.tolerances import PRODUCT_ROUNDING
from lockstep.spec.layers import Conv1d, Conv2d

Pads = Sequence[tuple[int, int]]


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the spatial axes (everything after [N, C]) with `value`."""
    return np.pad(x, [(0, 0), (0, 0), *pads], constant_values=value)


def unpad(dxp: np.ndarray, pads: Pads) -> np.ndarray:
    """The adjoint of `pad`: drop the padded border."""
    inner = tuple(slice(before, dxp.shape[2 + i] - after) for i, (before, after) in enumerate(pads))
    return dxp[(slice(None), slice(None), *inner)]


def windows(xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
            out: Sequence[int]) -> np.ndarray:
    """[N, C, *out, *kernel] view: windows(xp)[n, c, o.., k..] = xp[n, c, o·stride + k·dilation ..]."""
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True))
    w = sliding_window_view(xp, span, axis=tuple(range(2, 2 + len(kernel))))
    return w[(slice(None), slice(None),
              *(slice(0, o * s, s) for o, s in zip(out, stride, strict=True)),
              *(slice(None, None, d) for d in dilation))]


def scatter_windows(dwin: np.ndarray, padded_shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """The adjoint of `windows`: every window position's gradient added back onto the padded input."""
    dxp = np.zeros(padded_shape)
    for offset in itertools.product(*(range(k) for k in kernel)):
        at = tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                   for i, d, s, o in zip(offset, dilation, stride, out, strict=True))
        dxp[(slice(None), slice(None), *at)] += dwin[(Ellipsis, *offset)]
    return dxp


def _letters(spatial: int) -> tuple[str, str]:
    return "uvw"[:spatial], "ijk"[:spatial]  # output positions, kernel offsets


def conv_forward(layer: Conv1d | Conv2d, x: np.ndarray, params: dict[str, np.ndarray]) -> tuple[np.ndarray, tuple]:
    """y[n, f, o] = b[f] + Σ_{c in group(f), k} w[f, c, k] · x_pad[n, c, o·stride + k·dilation]."""
    kernel, stride, dilation, pads = layer.geometry(x.shape[1:])
    out = layer.output_shape([x.shape[1:]])[1:]
    n, c = x.shape[:2]
    g = layer.groups
    w = params["weight"]  # [F, C/g, *k]
    f = w.shape[0]
    xp = pad(x, pads)
    win = windows(xp, kernel, stride, dilation, out).reshape(n, g, c // g, *out, *kernel)
    wg = w.reshape(g, f // g, c // g, *kernel)  # group-major: filter f belongs to group f // (F/g)
    o, k = _letters(len(kernel))
    y = np.einsum(f"ngc{o}{k},gfc{k}->ngf{o}", win, wg, optimize=True).reshape(n, f, *out)
    if layer.use_bias:
        y = y + params["bias"].reshape(1, f, *([1] * len(kernel)))
    return y, (win, wg, xp.shape, kernel, stride, dilation, out, pads)


def conv_backward(layer: Conv1d | Conv2d, grad_output: np.ndarray, cache: tuple
                  ) -> tuple[list[np.ndarray | None], dict[str, np.ndarray]]:
    """dL/dw = Σ_{n, o} window ⊗ g;  dL/dwindow = Σ_f g w, scattered back onto x;  dL/db = Σ_{n, o} g."""
    win, wg, padded_shape, kernel, stride, dilation, out, pads = cache
    n, g, cg = win.shape[:3]
    f = wg.shape[0] * wg.shape[1]
    o, k = _letters(len(kernel))
    gy = grad_output.reshape(n, g, f // g, *out)
    dw = np.einsum(f"ngc{o}{k},ngf{o}->gfc{k}", win, gy, optimize=True).reshape(f, cg, *kernel)
    dwin = np.einsum(f"ngf{o},gfc{k}->ngc{o}{k}", gy, wg, optimize=True).reshape(n, g * cg, *out, *kernel)
    dx = unpad(scatter_windows(dwin, padded_shape, kernel, stride, dilation, out), pads)
    grads = {"weight": dw}
    if layer.use_bias:
        grads["bias"] = grad_output.sum(axis=(0, *range(2, grad_output.ndim)))
    return [dx], grads


# ------------------------------------------------------------------- float32 rules of conv1d and conv2d
def _kernel_volume(layer: Conv1d | Conv2d, spatial: int) -> int:
    k = layer.kernel_size
    return math.prod([k] * spatial if isinstance(k, int) else list(k))


def conv_reduction_length(layer: Conv1d | Conv2d, input_shapes: Sequence[Sequence[int]], spatial: int) -> int:
    """A dot product over C/groups · ∏kernel inputs (each factor rounded on its way in), then the bias."""
    return (input_shapes[0][0] // layer.groups) * _kernel_volume(layer, spatial) + PRODUCT_ROUNDING + 1


def conv_batch_length(layer: Conv1d | Conv2d, input_shapes: Sequence[Sequence[int]], batch: int) -> int:
    """The kernel and bias gradients sum over the batch and every output position."""
    out = layer.output_shape([tuple(s) for s in input_shapes])
    return batch * math.prod(out[1:])


def conv_backward_excess(layer: Conv1d | Conv2d, input_shapes: Sequence[Sequence[int]], spatial: int) -> int:
    """dx sums over filters/groups · ∏kernel where the forward summed C/groups · ∏kernel."""
    return max(0, (layer.filters - input_shapes[0][0]) // layer.groups * _kernel_volume(layer, spatial))
