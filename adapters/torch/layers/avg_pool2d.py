"""avg_pool2d -> nn.AvgPool2d. Without padding: native as is. With padding (the standard does not
count padded positions): symmetric pads use count_include_pad=False; asymmetric 'same' pads divide
the native window sum of the zero-padded input by the native window count of a padded ones mask."""

import torch
import torch.nn.functional as F
from torch import nn

from lockstep.adapters.torch.layers._base import Wrapped
from lockstep.adapters.torch.layers._conv import torch_pad


class AvgPool(Wrapped):
    def __init__(self, layer, shape, dtype) -> None:
        super().__init__()
        kernel, stride, pads = layer.geometry(shape)
        self.asym = any(b != a for b, a in pads)
        if self.asym:
            self.pad = torch_pad(pads)
            self.pool = nn.AvgPool2d(kernel, stride, count_include_pad=True)
            ones = F.pad(torch.ones((1, 1, *shape[1:]), dtype=dtype), self.pad)
            self.register_buffer("count", self.pool(ones), persistent=False)
        else:
            self.pool = nn.AvgPool2d(kernel, stride, padding=tuple(b for b, _ in pads), count_include_pad=False)

    def forward(self, inputs, mask=None):
        x = inputs[0]
        if self.asym:
            return self.pool(F.pad(x, self.pad)) / self.count
        return self.pool(x)


def build(layer, shapes, dtype):
    return AvgPool(layer, shapes[0], dtype)
