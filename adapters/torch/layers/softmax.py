"""softmax -> nn.Softmax over the per-sample `axis` (shifted by one for the batch axis)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import batched_axis
from lockstep.spec.base import Shape
from lockstep.spec.layers import Softmax


def build(layer: Softmax, shapes: list[Shape], dtype: torch.dtype) -> nn.Softmax:
    return nn.Softmax(dim=batched_axis(layer.axis))
