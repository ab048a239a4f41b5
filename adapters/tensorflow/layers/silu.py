"""silu -> keras.layers.Activation("silu") (tf.nn.silu: x σ(x))."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import SiLU

LAYOUT: Layout = "any"


def build(layer: SiLU, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    return keras.layers.Activation("silu", dtype=dtype)
