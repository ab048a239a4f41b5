"""sigmoid -> keras.layers.Activation("sigmoid")."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import Sigmoid

LAYOUT: Layout = "any"


def build(layer: Sigmoid, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    return keras.layers.Activation("sigmoid", dtype=dtype)
