"""flatten -> keras.layers.Flatten on the channels-first layout (the model transposes a channels-last
input back first), so the order of the flattened features is the standard's."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import Flatten

LAYOUT: Layout = "channels_first"


def build(layer: Flatten, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Flatten:
    return keras.layers.Flatten(data_format="channels_last", dtype=dtype)  # row-major of what it is given
