"""batch_norm -> nn.BatchNorm1d/2d/3d by per-sample rank ([C], [C, L] -> 1d, [C, H, W] -> 2d, 3-D -> 3d).

torch's conventions are the standard's: `momentum` weights the new statistic, normalization uses the
biased batch variance and `running_var` the unbiased one. Momentum and epsilon are passed explicitly.
Ranks above 4 (no native class) normalize through nn.BatchNorm1d on a [N, C, -1] view (same statistics).
"""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import BatchNorm

CLASSES = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}


class FlatBatchNorm(nn.BatchNorm1d):
    """nn.BatchNorm1d over [N, C, prod(spatial)]: per-channel statistics over batch and every spatial axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(x.shape[0], x.shape[1], -1)).reshape(x.shape)


def build(layer: BatchNorm, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    cls = CLASSES.get(len(shapes[0]), FlatBatchNorm)
    return cls(shapes[0][0], eps=layer.epsilon, momentum=layer.momentum, affine=True, track_running_stats=True,
               dtype=dtype)


def slots(m: nn.Module) -> Slots:
    return {"weight": Slot(m.weight), "bias": Slot(m.bias)}


def buffer_slots(m: nn.Module) -> Slots:
    return {"running_mean": Slot(m.running_mean), "running_var": Slot(m.running_var)}
