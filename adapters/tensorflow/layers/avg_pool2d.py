"""avg_pool2d -> keras.layers.AveragePooling2D (channels-last; TensorFlow's SAME average already
excludes padding, the standard's rule), or `PaddedAvgPool2D` for explicit padding (see _pool.py)."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.adapters.tensorflow.layers._pool import build_pool
from lockstep.spec.base import Shape
from lockstep.spec.layers import AvgPool2d

LAYOUT: Layout = "channels_last"


def build(layer: AvgPool2d, shapes: list[Shape], dtype: str, channels_last: bool = True) -> keras.layers.Layer:
    return build_pool(layer, shapes[0], dtype, "avg")
