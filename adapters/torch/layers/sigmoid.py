"""sigmoid -> nn.Sigmoid."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import Sigmoid


def build(layer: Sigmoid, shapes: list[Shape], dtype: torch.dtype) -> nn.Sigmoid:
    return nn.Sigmoid()
