"""multiply -> keras.layers.Multiply (inputs multiplied in order). It follows its inputs' layout when they agree."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import Multiply

LAYOUT: Layout = "any"


def build(layer: Multiply, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Multiply:
    return keras.layers.Multiply(dtype=dtype)
