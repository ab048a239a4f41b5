"""dense -> keras.layers.Dense. Keras's kernel is `[in, out]`, the canonical layout: no conversion."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Dense

LAYOUT: Layout = "channels_first"  # over the last axis of the canonical layout


def build(layer: Dense, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Dense:
    return keras.layers.Dense(layer.units, use_bias=layer.use_bias, dtype=dtype)


def slots(m: keras.layers.Dense) -> Slots:
    s = {"weight": Slot.of(m.kernel)}
    if m.use_bias:
        s["bias"] = Slot.of(m.bias)
    return s
