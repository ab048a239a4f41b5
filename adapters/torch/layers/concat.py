"""concat -> `Concat`: torch.cat along the per-sample axis (shifted by one for the batch axis)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import Concat as ConcatSpec


class Concat(nn.Module):
    """torch.cat of two or more tensors along `dim`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)


def build(layer: ConcatSpec, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return Concat(layer.axis % len(shapes[0]) + 1)
