"""leaky_relu -> keras.layers.LeakyReLU with the spec's slope passed explicitly (Keras's default is 0.3,
the standard's 0.01).

In float64 it is `StandardLeakyReLU`: TensorFlow's LeakyRelu kernel holds its slope as a float32
attribute, so in float64 a slope such as 0.1 acts as 0.10000000149 (a relative error of 1.5e-8, far
outside the float64 tolerance); the subclass computes `where(x > 0, x, slope·x)` in the input's dtype
(derivative `slope` at 0, as the standard's `x if x > 0 else slope·x`)."""

from __future__ import annotations

import keras
import tensorflow as tf

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import LeakyReLU

LAYOUT: Layout = "any"


class StandardLeakyReLU(keras.layers.LeakyReLU):
    """LeakyReLU with the slope applied in the input's dtype."""

    def call(self, inputs):
        return tf.where(inputs > 0, inputs, tf.constant(self.negative_slope, inputs.dtype) * inputs)


def build(layer: LeakyReLU, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    cls = StandardLeakyReLU if dtype == "float64" else keras.layers.LeakyReLU
    return cls(negative_slope=layer.negative_slope, dtype=dtype)
