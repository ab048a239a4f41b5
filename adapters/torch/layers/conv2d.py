"""conv2d -> nn.Conv2d; asymmetric padding -> `PaddedConv2d` (see _conv.py). Same kernel layout."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._conv import PaddedConv, build_conv
from lockstep.adapters.torch.layers._conv import slots as slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Conv2d


class PaddedConv2d(PaddedConv, nn.Conv2d):
    """nn.Conv2d after an explicit asymmetric zero F.pad (the standard's 'same' with stride)."""


def build(layer: Conv2d, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return build_conv(layer, shapes[0], dtype, nn.Conv2d, PaddedConv2d)
