"""max_pool2d -> keras.layers.MaxPooling2D (channels-last), or `PaddedMaxPool2D` (-inf padding) for
explicit padding (see _pool.py). The gradient goes to the window's maximum, as the standard says."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.adapters.tensorflow.layers._pool import build_pool
from lockstep.spec.base import Shape
from lockstep.spec.layers import MaxPool2d

LAYOUT: Layout = "channels_last"


def build(layer: MaxPool2d, shapes: list[Shape], dtype: str, channels_last: bool = True) -> keras.layers.Layer:
    return build_pool(layer, shapes[0], dtype, "max")
