"""silu -> nn.SiLU (x σ(x))."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import SiLU


def build(layer: SiLU, shapes: list[Shape], dtype: torch.dtype) -> nn.SiLU:
    return nn.SiLU()
