"""lstm -> keras.layers.LSTM (activation tanh, recurrent activation sigmoid, one bias).

Keras's gate order (i, f, c, o), c being the cell candidate, is the standard's (i, f, g, o), and Keras
has one bias like the standard: no conversion at all. `unit_forget_bias` only affects Keras's own
initializer (a placeholder here: `_base.PLACEHOLDER`), which the standard's initial weights replace."""

from __future__ import annotations

import keras

from lockstep.adapters.tensorflow.layers._base import PLACEHOLDER, Layout, Slot, Slots
from lockstep.adapters.tensorflow.layers._recurrent import weight_slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import LSTM

LAYOUT: Layout = "channels_first"  # [T, F] sequences


def build(layer: LSTM, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.LSTM:
    return keras.layers.LSTM(layer.units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                             return_sequences=layer.return_sequences, dtype=dtype, kernel_initializer=PLACEHOLDER,
                             recurrent_initializer=PLACEHOLDER, bias_initializer=PLACEHOLDER)


def slots(m: keras.layers.LSTM) -> Slots:
    return {**weight_slots(m), "bias": Slot.of(m.cell.bias)}
