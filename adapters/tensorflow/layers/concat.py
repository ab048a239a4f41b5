"""concat -> keras.layers.Concatenate along the per-sample axis (shifted by one for the batch axis),
on the channels-first layout (the standard's default axis 0 is the channels)."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import Concat

LAYOUT: Layout = "channels_first"


def build(layer: Concat, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Concatenate:
    return keras.layers.Concatenate(axis=layer.axis % len(shapes[0]) + 1, dtype=dtype)
