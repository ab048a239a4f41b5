"""reshape -> nn.Flatten then nn.Unflatten to the target shape (row-major, the batch axis kept)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import Reshape


def build(layer: Reshape, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return nn.Sequential(nn.Flatten(start_dim=1, end_dim=-1), nn.Unflatten(1, tuple(layer.output_shape(shapes))))
