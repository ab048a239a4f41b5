"""gru -> keras.layers.GRU(reset_after=True) (activation tanh, recurrent activation sigmoid).

Keras's reset-after GRU is the standard's formula, with two differences of layout only: gate blocks
in the order (z, r, h) where the standard has (r, z, n), and both biases in one `[2, 3H]` variable
(row 0 the input bias, row 1 the recurrent one). Slots reorder the columns and pick the rows."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import PLACEHOLDER, Layout, Slot, Slots, gate_columns
from lockstep.adapters.tensorflow.layers._recurrent import weight_slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import GRU

LAYOUT: Layout = "channels_first"  # [T, F] sequences

KERAS_BLOCK_OF = (1, 0, 2)  # the standard's r, z, n are Keras's blocks 1 (r), 0 (z), 2 (h)


def build(layer: GRU, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.GRU:
    return keras.layers.GRU(layer.units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                            reset_after=True, return_sequences=layer.return_sequences, dtype=dtype,
                            kernel_initializer=PLACEHOLDER, recurrent_initializer=PLACEHOLDER,
                            bias_initializer=PLACEHOLDER)


def slots(m: keras.layers.GRU) -> Slots:
    cols = gate_columns(m.cell.units, KERAS_BLOCK_OF)
    return {**weight_slots(m, cols),
            "bias_ih": Slot.of(m.cell.bias, lambda a: a[0, cols]),
            "bias_hh": Slot.of(m.cell.bias, lambda a: a[1, cols])}
