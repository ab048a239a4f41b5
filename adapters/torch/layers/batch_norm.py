"""batch_norm -> nn.BatchNorm1d/2d/3d. torch's conventions are the standard's: `momentum` weights the
new statistic, normalization uses the biased variance, running_var the unbiased one."""

from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Wrapped

CLASSES = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}


class BatchNorm(Wrapped):
    def __init__(self, layer, shape, dtype) -> None:
        super().__init__()
        self.bn = CLASSES[len(shape)](shape[0], eps=layer.epsilon, momentum=layer.momentum, dtype=dtype)

    def forward(self, inputs, mask=None):
        return self.bn(inputs[0])

    def slots(self):
        return {"weight": Slot(self.bn.weight), "bias": Slot(self.bn.bias)}

    def buffer_slots(self):
        return {"running_mean": Slot(self.bn.running_mean), "running_var": Slot(self.bn.running_var)}


def build(layer, shapes, dtype):
    return BatchNorm(layer, shapes[0], dtype)
