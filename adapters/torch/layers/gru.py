"""gru -> nn.GRU(batch_first=True). torch's gates (r, z, n) with the reset applied after the recurrent
matmul are the standard's; weights are transposed; bias_ih/bias_hh map one to one."""

from torch import nn

from lockstep.adapters.torch.layers._base import Slot
from lockstep.adapters.torch.layers._recurrent import Recurrent


class GRU(Recurrent):
    def __init__(self, layer, shape, dtype) -> None:
        super().__init__(nn.GRU, layer, shape, dtype)

    def slots(self):
        return {**super().slots(), "bias_ih": Slot(self.rnn.bias_ih_l0), "bias_hh": Slot(self.rnn.bias_hh_l0)}


def build(layer, shapes, dtype):
    return GRU(layer, shapes[0], dtype)
