"""log_softmax -> nn.LogSoftmax over the per-sample `axis` (shifted by one for the batch axis)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import batched_axis
from lockstep.spec.base import Shape
from lockstep.spec.layers import LogSoftmax


def build(layer: LogSoftmax, shapes: list[Shape], dtype: torch.dtype) -> nn.LogSoftmax:
    return nn.LogSoftmax(dim=batched_axis(layer.axis))
