"""lstm -> nn.LSTM(batch_first=True). torch's gate order is the standard's (i, f, g, o); weights are
transposed ([4H, F] vs canonical [F, 4H]). torch has two biases: `bias_ih_l0` carries the standard's one
bias and `bias_hh_l0` is held at zero and frozen, so gradients land on one bias."""

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot
from lockstep.adapters.torch.layers._recurrent import Recurrent


class LSTM(Recurrent):
    def __init__(self, layer, shape, dtype) -> None:
        super().__init__(nn.LSTM, layer, shape, dtype)
        with torch.no_grad():
            self.rnn.bias_hh_l0.zero_()
        self.rnn.bias_hh_l0.requires_grad_(False)

    def slots(self):
        return {**super().slots(), "bias": Slot(self.rnn.bias_ih_l0)}


def build(layer, shapes, dtype):
    return LSTM(layer, shapes[0], dtype)
