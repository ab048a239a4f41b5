"""lstm -> nn.LSTM(batch_first=True). torch's gate order is the standard's (i, f, g, o); weights are
transposed ([4H, F] vs canonical [F, 4H]). torch has two biases: `bias_ih_l0` carries the standard's one
bias and `bias_hh_l0` is held at zero and frozen, so gradients land on one bias."""

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Wrapped


class LSTM(Wrapped):
    def __init__(self, layer, shape, dtype) -> None:
        super().__init__()
        self.rnn = nn.LSTM(shape[-1], layer.units, batch_first=True, dtype=dtype)
        with torch.no_grad():
            self.rnn.bias_hh_l0.zero_()
        self.rnn.bias_hh_l0.requires_grad_(False)
        self.seq = layer.return_sequences

    def forward(self, inputs, mask=None):
        out, _ = self.rnn(inputs[0])
        return out if self.seq else out[:, -1]

    def slots(self):
        return {"weight_ih": Slot(self.rnn.weight_ih_l0, None, True),
                "weight_hh": Slot(self.rnn.weight_hh_l0, None, True),
                "bias": Slot(self.rnn.bias_ih_l0)}


def build(layer, shapes, dtype):
    return LSTM(layer, shapes[0], dtype)
