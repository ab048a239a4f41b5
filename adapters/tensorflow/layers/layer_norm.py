"""layer_norm -> keras.layers.LayerNormalization over the last `dims` axes, ε passed explicitly
(Keras's default is 1e-3, the standard's 1e-5). Its gamma/beta have the shape of the normalized axes,
the canonical weight/bias."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import LayerNorm

LAYOUT: Layout = "channels_first"


def build(layer: LayerNorm, shapes: list[Shape], dtype: str,
          channels_last: bool = False) -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(axis=list(range(-layer.dims, 0)), epsilon=layer.epsilon, dtype=dtype)


def slots(m: keras.layers.LayerNormalization) -> Slots:
    return {"weight": Slot.of(m.gamma), "bias": Slot.of(m.beta)}
