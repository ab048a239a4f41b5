"""elu -> keras.layers.ELU(alpha)."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import ELU

LAYOUT: Layout = "any"


def build(layer: ELU, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    return keras.layers.ELU(alpha=layer.alpha, dtype=dtype)
