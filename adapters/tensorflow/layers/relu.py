"""relu -> keras.layers.ReLU (tf.nn.relu: derivative 0 at 0, as the standard)."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import ReLU

LAYOUT: Layout = "any"


def build(layer: ReLU, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    return keras.layers.ReLU(dtype=dtype)
