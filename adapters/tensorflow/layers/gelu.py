"""gelu -> keras.layers.Activation(keras.activations.gelu) with `approximate` passed explicitly:
"none" is the exact erf form (Keras's `approximate=False`), "tanh" the tanh approximation
(`approximate=True`, the standard's constant 0.044715).

In float64 it is `StandardGELU`: tf.nn.gelu (what Keras calls) builds its constants with
`math_ops.cast(0.044715, dtype)` / `cast(0.7071067811865476, dtype)`, which rounds the Python float to
float32 before casting, so float64 results are off by up to 7e-8 relative. The subclass evaluates the
same two formulas with the constants in the input's dtype."""

from __future__ import annotations

import functools
import math

import keras
import tensorflow as tf

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import GELU

LAYOUT: Layout = "any"


def standard_gelu(x: tf.Tensor, approximate: bool) -> tf.Tensor:
    """tf.nn.gelu's two forms with float64-exact constants."""
    if approximate:
        c = tf.constant(math.sqrt(2 / math.pi), x.dtype)
        k = tf.constant(0.044715, x.dtype)
        return 0.5 * x * (1.0 + tf.tanh(c * (x + k * x * x * x)))
    return 0.5 * x * tf.math.erfc(-x * tf.constant(math.sqrt(0.5), x.dtype))


class StandardGELU(keras.layers.Activation):
    """Activation(gelu) whose constants are exact in float64."""

    def __init__(self, approximate: bool, **kwargs) -> None:
        super().__init__(functools.partial(standard_gelu, approximate=approximate), **kwargs)


def build(layer: GELU, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    approximate = layer.approximate == "tanh"
    if dtype == "float64":
        return StandardGELU(approximate, dtype=dtype)
    return keras.layers.Activation(functools.partial(keras.activations.gelu, approximate=approximate), dtype=dtype)
