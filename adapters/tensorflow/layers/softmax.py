"""softmax -> keras.layers.Softmax over the per-sample `axis` (shifted by one for the batch axis).

Keras warns when the axis has size 1 (the result is 1 everywhere); the spec allows it, and the warning
would interleave with the runner's and certify's progress, so that one message is silenced here."""

from __future__ import annotations

import warnings

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, batched_axis
from lockstep.spec.base import Shape
from lockstep.spec.layers import Softmax

LAYOUT: Layout = "channels_first"

warnings.filterwarnings("ignore", message="You are using a softmax over axis", category=UserWarning)


def build(layer: Softmax, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Softmax:
    return keras.layers.Softmax(axis=batched_axis(layer.axis), dtype=dtype)
