"""Shared by conv1d/conv2d: keras.layers.Conv1D/Conv2D in channels-last (TensorFlow's CPU kernels
only run NHWC), with the kernel `[*k, in/groups, out]` exposed transposed as the canonical
`[out, in/groups, *k]`.

'valid' and the standard's 'same' are Keras's own paddings (TensorFlow's SAME puts the odd element at
the end, as the standard does, also with dilation). Two cases need `PaddedConv1D/2D`, a subclass
that zero-pads the input explicitly and runs the native convolution 'valid':
explicit padding (Keras has only 'valid'/'same'), and stride > 1 together with dilation > 1, which
Keras refuses; there the native convolution runs at stride 1 and every stride-th output is kept
(a strided convolution's outputs are exactly that subset of the unit-stride ones).
Grouped convolutions are native (Keras compiles them with XLA on the CPU).
"""

from __future__ import annotations

import keras
from keras import ops

from lockstep.adapters.tensorflow.layers._base import PLACEHOLDER, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import resolve_padding


class _Padded:
    """Zero-pad (before, after) per spatial axis, the native convolution, then keep every `keep`-th output."""

    pads: list[tuple[int, int]]
    keep: tuple[int, ...]

    def call(self, inputs):
        x = ops.pad(inputs, [(0, 0), *self.pads, (0, 0)]) if any(b or a for b, a in self.pads) else inputs
        y = super().call(x)  # type: ignore[misc]
        if any(k > 1 for k in self.keep):
            y = y[(slice(None), *(slice(None, None, k) for k in self.keep), slice(None))]
        return y

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for i, (b, a) in enumerate(self.pads):
            if shape[1 + i] is not None:
                shape[1 + i] += b + a
        out = list(super().compute_output_shape(tuple(shape)))  # type: ignore[misc]
        for i, k in enumerate(self.keep):
            if out[1 + i] is not None:
                out[1 + i] = -(-out[1 + i] // k)
        return tuple(out)


class PaddedConv1D(_Padded, keras.layers.Conv1D):
    def __init__(self, pads: list[tuple[int, int]], keep: tuple[int, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.pads, self.keep = pads, keep


class PaddedConv2D(_Padded, keras.layers.Conv2D):
    def __init__(self, pads: list[tuple[int, int]], keep: tuple[int, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.pads, self.keep = pads, keep


NATIVE = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}
PADDED = {1: PaddedConv1D, 2: PaddedConv2D}


def build_conv(layer, shape: Shape, dtype: str) -> keras.layers.Layer:
    n = layer.spatial
    kernel, stride, dilation, pads = layer.geometry(shape)
    common = dict(filters=layer.filters, kernel_size=kernel, dilation_rate=dilation, groups=layer.groups,
                  use_bias=layer.use_bias, data_format="channels_last", dtype=dtype,
                  kernel_initializer=PLACEHOLDER, bias_initializer=PLACEHOLDER)
    strided_dilated = any(s > 1 for s in stride) and any(d > 1 for d in dilation)
    if not strided_dilated:
        if all(p == (0, 0) for p in pads):
            return NATIVE[n](strides=stride, padding="valid", **common)
        if layer.padding == "same" or pads == resolve_padding("same", shape[1:], kernel, stride, dilation):
            return NATIVE[n](strides=stride, padding="same", **common)
        return PADDED[n](list(pads), (1,) * n, strides=stride, padding="valid", **common)
    return PADDED[n](list(pads), stride, strides=1, padding="valid", **common)


def conv_slots(m: keras.layers.Layer) -> Slots:
    n = len(m.kernel.shape) - 2
    perm = (n + 1, n, *range(n))  # [*k, in, out] -> [out, in, *k]
    s = {"weight": Slot.of(m.kernel, lambda a: a.transpose(perm))}
    if m.use_bias:
        s["bias"] = Slot.of(m.bias)
    return s
