"""add -> keras.layers.Add (inputs summed in order). It follows its inputs' layout when they agree."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import Add

LAYOUT: Layout = "any"


def build(layer: Add, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Add:
    return keras.layers.Add(dtype=dtype)
