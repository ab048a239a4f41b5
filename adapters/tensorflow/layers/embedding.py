"""embedding -> keras.layers.Embedding; its `embeddings` `[input_dim, output_dim]` is the canonical weight.

Out-of-range indices: the session refuses them on the host (`TFSession._input_args`): Keras's `take` wraps a
negative index to the table's end (W[-1] was W[input_dim - 1]), and on GPUs gather returns zeros for one past it;
the standard's answer is an error (the runner's data pipeline checks indices against `input_dim` too).
Its gradient is an IndexedSlices, densified by the session before clipping and the optimizer step,
so every row's optimizer state decays every step as the standard's dense update says."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import PLACEHOLDER, Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Embedding

LAYOUT: Layout = "channels_first"


def build(layer: Embedding, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Embedding:
    return keras.layers.Embedding(layer.input_dim, layer.output_dim, dtype=dtype, embeddings_initializer=PLACEHOLDER)


def slots(m: keras.layers.Embedding) -> Slots:
    return {"weight": Slot.of(m.embeddings)}
