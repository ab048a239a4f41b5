"""elu -> nn.ELU(alpha)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import ELU


def build(layer: ELU, shapes: list[Shape], dtype: torch.dtype) -> nn.ELU:
    return nn.ELU(alpha=layer.alpha)
