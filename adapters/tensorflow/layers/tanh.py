"""tanh -> keras.layers.Activation("tanh")."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import Tanh

LAYOUT: Layout = "any"


def build(layer: Tanh, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    return keras.layers.Activation("tanh", dtype=dtype)
