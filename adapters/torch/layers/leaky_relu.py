"""leaky_relu -> nn.LeakyReLU with the standard's slope passed explicitly (the spec default 0.01)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import LeakyReLU


def build(layer: LeakyReLU, shapes: list[Shape], dtype: torch.dtype) -> nn.LeakyReLU:
    return nn.LeakyReLU(negative_slope=layer.negative_slope)
