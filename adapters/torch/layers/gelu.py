"""gelu -> nn.GELU; the spec's `approximate` ('none': erf, 'tanh') is torch's own option."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import GELU


def build(layer: GELU, shapes: list[Shape], dtype: torch.dtype) -> nn.GELU:
    return nn.GELU(approximate=layer.approximate)
