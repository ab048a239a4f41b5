"""gru -> `SequenceGRU`, a batch-first nn.GRU subclass that only selects the output.

torch's GRU is the standard's: gates (r, z, n) in that row order, the reset gate applied after the
recurrent matmul (`n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn))`), two biases. Weights are transposed.
"""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.adapters.torch.layers._recurrent import ReturnSequences, weight_slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import GRU


class SequenceGRU(ReturnSequences, nn.GRU):
    """nn.GRU(batch_first=True), returning h_T or every h_t."""

    def __init__(self, features: int, units: int, return_sequences: bool, dtype: torch.dtype) -> None:
        super().__init__(features, units, num_layers=1, bias=True, batch_first=True, dropout=0.0,
                         bidirectional=False, dtype=dtype)
        self.return_sequences = return_sequences


def build(layer: GRU, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return SequenceGRU(shapes[0][-1], layer.units, layer.return_sequences, dtype)


def slots(m: SequenceGRU) -> Slots:
    return {**weight_slots(m), "bias_ih": Slot(m.bias_ih_l0), "bias_hh": Slot(m.bias_hh_l0)}
