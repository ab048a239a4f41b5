"""tanh -> nn.Tanh."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import Tanh


def build(layer: Tanh, shapes: list[Shape], dtype: torch.dtype) -> nn.Tanh:
    return nn.Tanh()
