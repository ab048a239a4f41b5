"""lstm -> `SequenceLSTM`, a batch-first nn.LSTM subclass.

torch's gate order (i, f, g, o) and cell are the standard's. torch has two biases where the standard
has one: `bias_ih_l0` carries the standard's `bias` and `bias_hh_l0` is held at zero and frozen
(`requires_grad=False`, never given to the optimizer), so the whole gradient lands on the one bias.
"""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.adapters.torch.layers._recurrent import ReturnSequences, weight_slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import LSTM


class SequenceLSTM(ReturnSequences, nn.LSTM):
    """nn.LSTM(batch_first=True) with the second bias frozen at zero, returning h_T or every h_t."""

    def __init__(self, features: int, units: int, return_sequences: bool, dtype: torch.dtype) -> None:
        super().__init__(features, units, num_layers=1, bias=True, batch_first=True, dropout=0.0,
                         bidirectional=False, proj_size=0, dtype=dtype)
        self.return_sequences = return_sequences
        with torch.no_grad():
            self.bias_hh_l0.zero_()
        self.bias_hh_l0.requires_grad_(False)


def build(layer: LSTM, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return SequenceLSTM(shapes[0][-1], layer.units, layer.return_sequences, dtype)


def slots(m: SequenceLSTM) -> Slots:
    return {**weight_slots(m), "bias": Slot(m.bias_ih_l0)}
