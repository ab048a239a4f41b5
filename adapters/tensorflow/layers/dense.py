"""dense -> keras.layers.Dense. Keras's kernel is `[in, out]`, the canonical layout: no conversion.

Tied to an embedding (`tied_to`): `TiedDense` multiplies by the embedding layer's own `embeddings` variable
transposed (`x · Eᵀ`, `tf.matmul(..., transpose_b=True)`), the variable Keras's Embedding reads, so TensorFlow's
tape adds both uses' gradients into it; only the bias is this layer's. Keras core has no tied layer
(KerasHub's ReversibleEmbedding is the same product)."""

from __future__ import annotations

import keras
import tensorflow as tf

from lockstep.adapters.tensorflow.layers._base import PLACEHOLDER, Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Dense

LAYOUT: Layout = "channels_first"  # over the last axis of the canonical layout


class TiedDense(keras.layers.Layer):
    """y = x · Eᵀ (+ b) with E an Embedding layer's `embeddings` [units, in], set by `tie`."""

    def __init__(self, units: int, use_bias: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.source: keras.layers.Embedding | None = None
        self.bias = None

    def build(self, input_shape) -> None:
        if self.source is None:
            raise RuntimeError("a tied dense layer needs its embedding (tie) before it is built")
        if not self.source.built:
            self.source.build(None)
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        y = tf.matmul(x, self.source.embeddings, transpose_b=True)
        return y if self.bias is None else tf.add(y, self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)


def build(layer: Dense, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    if layer.tied_to:
        return TiedDense(layer.units, layer.use_bias, dtype=dtype)
    return keras.layers.Dense(layer.units, use_bias=layer.use_bias, dtype=dtype, kernel_initializer=PLACEHOLDER,
                              bias_initializer=PLACEHOLDER)


def tie(m: TiedDense, short: str, owner: keras.layers.Embedding, owned: str) -> None:
    """Read the owner's table (an Embedding's `embeddings`) as this layer's weight, transposed."""
    m.source = owner


def slots(m: keras.layers.Layer) -> Slots:
    s = {} if isinstance(m, TiedDense) else {"weight": Slot.of(m.kernel)}
    if m.use_bias:
        s["bias"] = Slot.of(m.bias)
    return s
