"""softmax -> keras.layers.Softmax over the per-sample `axis` (shifted by one for the batch axis)."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, batched_axis
from lockstep.spec.base import Shape
from lockstep.spec.layers import Softmax

LAYOUT: Layout = "channels_first"


def build(layer: Softmax, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Softmax:
    return keras.layers.Softmax(axis=batched_axis(layer.axis), dtype=dtype)
