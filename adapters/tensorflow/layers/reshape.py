"""reshape -> keras.layers.Reshape (row-major, per sample) on the channels-first layout."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import Reshape

LAYOUT: Layout = "channels_first"


def build(layer: Reshape, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Reshape:
    return keras.layers.Reshape(tuple(layer.shape), dtype=dtype)
