"""Shared by lstm and gru: a native batch-first nn.LSTM/nn.GRU returning the last or every hidden state,
its [gates*H, F] weights exposed transposed as the canonical [F, gates*H]."""

from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Wrapped


class Recurrent(Wrapped):
    def __init__(self, cls: type[nn.Module], layer, shape, dtype) -> None:
        super().__init__()
        self.rnn = cls(shape[-1], layer.units, batch_first=True, dtype=dtype)
        self.seq = layer.return_sequences

    def forward(self, inputs, mask=None):
        out, _ = self.rnn(inputs[0])
        return out if self.seq else out[:, -1]

    def slots(self):
        return {"weight_ih": Slot(self.rnn.weight_ih_l0, None, True),
                "weight_hh": Slot(self.rnn.weight_hh_l0, None, True)}
