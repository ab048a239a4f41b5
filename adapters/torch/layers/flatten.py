"""flatten -> nn.Flatten (row-major over the channels-first layout, which torch shares)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import Flatten


def build(layer: Flatten, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return nn.Flatten(start_dim=1, end_dim=-1)
