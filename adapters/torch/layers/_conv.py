"""Shared by conv1d/conv2d: the native nn.ConvNd, with explicit asymmetric padding when the standard's
'same' (extra element at the end) is not expressible as torch's symmetric `padding`."""

import torch.nn.functional as F
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Wrapped


def torch_pad(pads) -> list[int]:
    """Per-axis (before, after) -> F.pad's order: last axis first."""
    out: list[int] = []
    for before, after in reversed(pads):
        out += [before, after]
    return out


class Conv(Wrapped):
    def __init__(self, layer, shape, dtype, cls) -> None:
        super().__init__()
        kernel, stride, dilation, pads = layer.geometry(shape)
        symmetric = all(b == a for b, a in pads)
        self.pad = None if symmetric else torch_pad(pads)
        self.conv = cls(shape[0], layer.filters, kernel, stride=stride, dilation=dilation, groups=layer.groups,
                        bias=layer.use_bias, padding=tuple(b for b, _ in pads) if symmetric else 0, dtype=dtype)

    def forward(self, inputs, mask=None):
        x = inputs[0]
        return self.conv(F.pad(x, self.pad) if self.pad else x)

    def slots(self):
        s = {"weight": Slot(self.conv.weight)}
        if self.conv.bias is not None:
            s["bias"] = Slot(self.conv.bias)
        return s


def build_conv(layer, shapes, dtype, cls: type[nn.Module]) -> Wrapped:
    return Conv(layer, shapes[0], dtype, cls)
