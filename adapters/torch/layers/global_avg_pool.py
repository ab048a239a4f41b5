"""global_avg_pool -> nn.AdaptiveAvgPool1d/2d/3d(1) and nn.Flatten: [N, C, *S] -> [N, C].

Per-sample ranks above 4 (no native adaptive pool) take the mean over the spatial axes (`torch.mean`)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import GlobalAvgPool

POOLS = {2: nn.AdaptiveAvgPool1d, 3: nn.AdaptiveAvgPool2d, 4: nn.AdaptiveAvgPool3d}


class SpatialMean(nn.Module):
    """Mean over every axis after the channels, for ranks torch has no adaptive pool for."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.dims = tuple(range(2, rank + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mean(x, dim=self.dims)


def build(layer: GlobalAvgPool, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    rank = len(shapes[0])
    if rank in POOLS:
        return nn.Sequential(POOLS[rank](1), nn.Flatten())
    return SpatialMean(rank)
