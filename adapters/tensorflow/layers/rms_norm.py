"""rms_norm -> keras.layers.RMSNormalization over the last `dims` axes, ε passed explicitly (Keras's default is
1e-6, the standard's too, but nothing defaults to a framework's default). Keras's formula is the standard's:
x · rsqrt(mean(x²) + ε) · scale, ε inside the root; its `scale` `[normalized axes]` is the canonical weight.

`scale: false`: Keras's layer always has a scale; it stays at its initial ones, not trained (x · 1 is exact), so
the native layer serves both."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import RMSNorm

LAYOUT: Layout = "channels_first"  # over the last axes of the canonical layout


def build(layer: RMSNorm, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    m = keras.layers.RMSNormalization(axis=list(range(-layer.dims, 0)), epsilon=layer.epsilon, dtype=dtype)
    m.trainable = layer.scale  # `scale: false`: Keras's scale stays its initial ones (x · 1 is exact), untrained
    return m


def slots(m: keras.layers.Layer) -> Slots:
    return {"weight": Slot.of(m.scale)} if m.trainable else {}
