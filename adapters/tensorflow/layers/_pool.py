"""Shared by max_pool2d/avg_pool2d: keras.layers.MaxPooling2D/AveragePooling2D in channels-last.

'valid' and the standard's 'same' are native: TensorFlow's SAME puts the odd padding element at the
end, never lets a padded position win a max, and divides an average by the in-bounds positions only,
which is the standard's rule. Explicit padding has no Keras spelling: `PaddedMaxPool2D` pads with -inf
(padding never wins) and `PaddedAvgPool2D` pads with zeros and rescales the native 'valid' average
(sum / window size) by window size / in-bounds count, a constant computed at build time.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from lockstep.spec.base import Shape
from lockstep.spec.layers import conv_output_size, resolve_padding


class PaddedMaxPool2D(keras.layers.MaxPooling2D):
    """Max pooling after padding with -inf."""

    def __init__(self, pads: list[tuple[int, int]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.pads = pads

    def call(self, inputs):
        return super().call(ops.pad(inputs, [(0, 0), *self.pads, (0, 0)], constant_values=-np.inf))


class PaddedAvgPool2D(keras.layers.AveragePooling2D):
    """Average over in-bounds positions only: the native 'valid' average of the zero-padded input, rescaled."""

    def __init__(self, pads: list[tuple[int, int]], scale: np.ndarray, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pads = pads
        self.scale = scale

    def call(self, inputs):
        y = super().call(ops.pad(inputs, [(0, 0), *self.pads, (0, 0)]))
        return y * ops.cast(self.scale, y.dtype)


def _counts(size: int, k: int, s: int, pad: tuple[int, int]) -> np.ndarray:
    """How many in-bounds positions each window along one axis covers."""
    n = conv_output_size(size, k, s, 1, pad)
    starts = np.arange(n) * s - pad[0]
    return np.minimum(starts + k, size) - np.maximum(starts, 0)


def build_pool(layer, shape: Shape, dtype: str, kind: str) -> keras.layers.Layer:
    kernel, stride, pads = layer.geometry(shape)
    common = dict(pool_size=kernel, strides=stride, data_format="channels_last", dtype=dtype)
    native = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    if all(p == (0, 0) for p in pads):
        return native(padding="valid", **common)
    if layer.padding == "same" or pads == resolve_padding("same", shape[1:], kernel, stride, (1, 1)):
        return native(padding="same", **common)
    if kind == "max":
        return PaddedMaxPool2D(list(pads), padding="valid", **common)
    counts = np.outer(*(_counts(shape[1 + i], kernel[i], stride[i], pads[i]) for i in range(2)))
    scale = (kernel[0] * kernel[1] / counts)[None, :, :, None]
    return PaddedAvgPool2D(list(pads), scale, padding="valid", **common)
