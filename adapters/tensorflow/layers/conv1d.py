"""conv1d -> keras.layers.Conv1D (channels-last), or `PaddedConv1D` for explicit padding and for stride
with dilation (see _conv.py). Kernel `[k, in/groups, out]` <-> canonical `[out, in/groups, k]`."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, Slots
from lockstep.adapters.tensorflow.layers._conv import build_conv, conv_slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Conv1d

LAYOUT: Layout = "channels_last"


def build(layer: Conv1d, shapes: list[Shape], dtype: str, channels_last: bool = True) -> keras.layers.Layer:
    return build_conv(layer, shapes[0], dtype)


def slots(m: keras.layers.Layer) -> Slots:
    return conv_slots(m)
