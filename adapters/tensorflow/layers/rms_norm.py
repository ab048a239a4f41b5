"""rms_norm -> keras.layers.RMSNormalization over the last `dims` axes, ε passed explicitly (Keras's default is
1e-6, the standard's too, but nothing defaults to a framework's default). Keras's formula is the standard's:
x · rsqrt(mean(x²) + ε) · scale, ε inside the root; its `scale` `[normalized axes]` is the canonical weight.

`scale: false`: Keras's layer always has a scale, so `Unscaled` calls the same native op,
`keras.ops.rms_normalization`, with `scale=None`."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import RMSNorm

LAYOUT: Layout = "channels_first"  # over the last axes of the canonical layout


class Unscaled(keras.layers.Layer):
    """RMS normalization without a learned scale: keras.ops.rms_normalization(x, scale=None)."""

    def __init__(self, axis: list[int], epsilon: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def call(self, x):
        return keras.ops.rms_normalization(x, scale=None, axis=self.axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape


def build(layer: RMSNorm, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    axis = list(range(-layer.dims, 0))
    if not layer.scale:
        return Unscaled(axis, layer.epsilon, dtype=dtype)
    return keras.layers.RMSNormalization(axis=axis, epsilon=layer.epsilon, dtype=dtype)


def slots(m: keras.layers.Layer) -> Slots:
    return {"weight": Slot.of(m.scale)} if isinstance(m, keras.layers.RMSNormalization) else {}
