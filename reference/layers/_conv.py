"""N-d (1 or 2 spatial axes) grouped, strided, dilated cross-correlation, channels-first.

Padding comes from the spec (`resolve_padding`: 'same' puts the odd element at the end), so the
math here only ever sees explicit (before, after) pads.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    return np.pad(x, [(0, 0), (0, 0), *pads], constant_values=value)


def windows(xp: np.ndarray, kernel, stride, dilation, out) -> np.ndarray:
    """[N, C, *out, *kernel] view of the padded input."""
    n = len(kernel)
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True))
    w = sliding_window_view(xp, span, axis=tuple(range(2, 2 + n)))
    idx = (slice(None), slice(None),
           *(slice(0, o * s, s) for o, s in zip(out, stride, strict=True)),
           *(slice(None, None, d) for d in dilation))
    return w[idx]


def scatter_windows(dwin: np.ndarray, padded_shape, kernel, stride, dilation, out) -> np.ndarray:
    """Adjoint of `windows`: add each window position's gradient back onto the padded input."""
    n = len(kernel)
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)
    for offs in itertools.product(*(range(k) for k in kernel)):
        sl = tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                   for o, d, s, m in zip(offs, dilation, stride, out, strict=True))
        dxp[(slice(None), slice(None), *sl)] += dwin[(Ellipsis, *offs)] if n else dwin
    return dxp


def unpad(dxp: np.ndarray, pads) -> np.ndarray:
    sl = tuple(slice(b, dxp.shape[2 + i] - a) for i, (b, a) in enumerate(pads))
    return dxp[(slice(None), slice(None), *sl)]


def conv_forward(layer, x, params):
    shape = x.shape[1:]
    kernel, stride, dilation, pads = layer.geometry(shape)
    out = layer.output_shape([shape])[1:]
    xp = pad(x, pads)
    win = windows(xp, kernel, stride, dilation, out)  # [N, C, *out, *k]
    g = layer.groups
    n, c = x.shape[:2]
    w = params["weight"]  # [F, C/g, *k]
    f = w.shape[0]
    wg = w.reshape(g, f // g, c // g, *kernel)
    wing = win.reshape(n, g, c // g, *out, *kernel)
    s = len(kernel)
    sp = "pq"[:s]
    kk = "ij"[:s]
    y = np.einsum(f"ngc{sp}{kk},gfc{kk}->ngf{sp}", wing, wg, optimize=True).reshape(n, f, *out)
    if "bias" in params:
        y = y + params["bias"].reshape(1, f, *([1] * s))
    return y, (wing, wg, xp.shape, kernel, stride, dilation, out, pads, x.shape)


def conv_backward(layer, gy, cache):
    wing, wg, padded_shape, kernel, stride, dilation, out, pads, xshape = cache
    n, c = xshape[:2]
    g = layer.groups
    f = wg.shape[0] * wg.shape[1]
    s = len(kernel)
    sp = "pq"[:s]
    kk = "ij"[:s]
    gyg = gy.reshape(n, g, f // g, *out)
    dw = np.einsum(f"ngc{sp}{kk},ngf{sp}->gfc{kk}", wing, gyg, optimize=True).reshape(f, c // g, *kernel)
    dwin = np.einsum(f"ngf{sp},gfc{kk}->ngc{sp}{kk}", gyg, wg, optimize=True).reshape(n, c, *out, *kernel)
    dx = unpad(scatter_windows(dwin, padded_shape, kernel, stride, dilation, out), pads)
    grads = {"weight": dw}
    if layer.use_bias:
        grads["bias"] = gy.sum(axis=tuple(i for i in range(gy.ndim) if i != 1))
    return [dx], grads
