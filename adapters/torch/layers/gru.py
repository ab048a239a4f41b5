"""gru -> nn.GRU(batch_first=True). torch's gates (r, z, n) with the reset applied after the recurrent
matmul are the standard's; weights are transposed; bias_ih/bias_hh map one to one."""

from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Wrapped


class GRU(Wrapped):
    def __init__(self, layer, shape, dtype) -> None:
        super().__init__()
        self.rnn = nn.GRU(shape[-1], layer.units, batch_first=True, dtype=dtype)
        self.seq = layer.return_sequences

    def forward(self, inputs, mask=None):
        out, _ = self.rnn(inputs[0])
        return out if self.seq else out[:, -1]

    def slots(self):
        return {"weight_ih": Slot(self.rnn.weight_ih_l0, None, True),
                "weight_hh": Slot(self.rnn.weight_hh_l0, None, True),
                "bias_ih": Slot(self.rnn.bias_ih_l0), "bias_hh": Slot(self.rnn.bias_hh_l0)}


def build(layer, shapes, dtype):
    return GRU(layer, shapes[0], dtype)
