"""max_pool2d -> nn.MaxPool2d after F.pad with -inf (torch pads symmetrically only, and at most k/2)."""

import torch.nn.functional as F
from torch import nn

from lockstep.adapters.torch.layers._base import Wrapped
from lockstep.adapters.torch.layers._conv import torch_pad


class MaxPool(Wrapped):
    def __init__(self, layer, shape) -> None:
        super().__init__()
        kernel, stride, pads = layer.geometry(shape)
        self.pad = torch_pad(pads) if any(p for pair in pads for p in pair) else None
        self.pool = nn.MaxPool2d(kernel, stride)

    def forward(self, inputs, mask=None):
        x = inputs[0]
        return self.pool(F.pad(x, self.pad, value=float("-inf")) if self.pad else x)


def build(layer, shapes, dtype):
    return MaxPool(layer, shapes[0])
