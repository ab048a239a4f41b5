"""relu -> nn.ReLU (derivative 0 at 0, as the standard)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import ReLU


def build(layer: ReLU, shapes: list[Shape], dtype: torch.dtype) -> nn.ReLU:
    return nn.ReLU()
