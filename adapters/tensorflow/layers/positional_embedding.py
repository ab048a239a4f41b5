"""positional_embedding -> `Positions`: x + P[:T].

learned: P is a native keras.layers.Embedding(max_length, d) looked up at positions 0..T−1, whose `embeddings`
`[max_length, d]` is the canonical weight. sinusoidal: Keras core has no sinusoidal layer (KerasHub's
SinePositionEncoding uses the half-split layout, not the standard's interleaved one); P is the standard's table
(reference/layers/positional_embedding.py, float64, rounded once to the dtype), a constant."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lockstep.adapters.tensorflow.layers._base import PLACEHOLDER, Layout, Slot, Slots
from lockstep.reference.layers.positional_embedding import sinusoidal_table
from lockstep.spec.base import Shape
from lockstep.spec.layers import PositionalEmbedding

LAYOUT: Layout = "channels_first"  # [T, d] sequences


class Positions(keras.layers.Layer):
    """x [N, T, d] + a position code [T, d]: a learned Embedding, or a fixed table."""

    def __init__(self, layer: PositionalEmbedding, length: int, d: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.length = length
        self.table = (keras.layers.Embedding(layer.max_length, d, dtype=kwargs.get("dtype"),
                                             embeddings_initializer=PLACEHOLDER)
                      if layer.encoding == "learned" else None)
        self.code = None if self.table is not None else np.asarray(sinusoidal_table(length, d, layer.base))

    def build(self, input_shape) -> None:
        if self.table is not None and not self.table.built:
            self.table.build(None)

    def call(self, x):
        if self.table is not None:
            return x + self.table(tf.range(self.length))
        return x + tf.constant(self.code, dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def build(layer: PositionalEmbedding, shapes: list[Shape], dtype: str, channels_last: bool = False) -> Positions:
    t, d = shapes[0]
    return Positions(layer, t, d, dtype=dtype)


def slots(m: Positions) -> Slots:
    return {"weight": Slot.of(m.table.embeddings)} if m.table is not None else {}
