"""conv1d -> nn.Conv1d; asymmetric padding -> `PaddedConv1d` (see _conv.py). Same kernel layout."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._conv import PaddedConv, build_conv
from lockstep.adapters.torch.layers._conv import slots as slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Conv1d


class PaddedConv1d(PaddedConv, nn.Conv1d):
    """nn.Conv1d after an explicit asymmetric zero F.pad (the standard's 'same' with stride)."""


def build(layer: Conv1d, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return build_conv(layer, shapes[0], dtype, nn.Conv1d, PaddedConv1d)
