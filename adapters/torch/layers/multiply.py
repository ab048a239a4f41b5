"""multiply -> `Multiply`: the inputs multiplied left to right with torch's `*` (torch has no multiply layer;
`torch.mul` is the op)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import Multiply as MultiplySpec


class Multiply(nn.Module):
    """Elementwise product of two or more same-shaped tensors, in input order."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0] * xs[1]
        for x in xs[2:]:
            out = out * x
        return out


def build(layer: MultiplySpec, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return Multiply()
