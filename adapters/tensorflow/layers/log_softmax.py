"""log_softmax -> keras.layers.Activation(keras.activations.log_softmax) over the per-sample `axis`
(Keras has no log-softmax layer; the activation is tf.nn.log_softmax, stable)."""

from __future__ import annotations

import functools

import keras

from lockstep.adapters.tensorflow.layers._base import Layout, batched_axis
from lockstep.spec.base import Shape
from lockstep.spec.layers import LogSoftmax

LAYOUT: Layout = "channels_first"


def build(layer: LogSoftmax, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    return keras.layers.Activation(functools.partial(keras.activations.log_softmax, axis=batched_axis(layer.axis)),
                                   dtype=dtype)
