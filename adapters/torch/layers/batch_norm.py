"""batch_norm -> nn.BatchNorm1d/2d/3d by per-sample rank ([C], [C, L] -> 1d, [C, H, W] -> 2d, 3-D -> 3d).

torch's conventions are the standard's: `momentum` weights the new statistic, normalization uses the
biased batch variance and `running_var` the unbiased one. Momentum and epsilon are passed explicitly.
Ranks above 4 (no native class) normalize through nn.BatchNorm1d on a [N, C, -1] view (same statistics).

torch 2.13's CPU batch-norm backward mis-reads an incoming gradient whose strides are not the input's
memory format (found by `lockstep certify`: a class loss over [N, C, 1, W] outputs, whose movedim'd gradient
looks channels-last; the result was wrong gradients, or "grad_input must be contiguous"). Every batch norm
therefore hands its backward a contiguous gradient (`ContiguousGrad`, identity forward); the same class of
bug is pytorch/pytorch#175189 (MPS) and #107199 (CUDA).
"""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import BatchNorm


class ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the gradient contiguous (see the module docstring)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # `.contiguous()` keeps a tensor whose odd strides only sit on size-1 axes: clone to row-major strides
        row_major = [1] * grad.dim()
        for i in range(grad.dim() - 2, -1, -1):
            row_major[i] = row_major[i + 1] * grad.shape[i + 1]
        return grad if list(grad.stride()) == row_major else grad.clone(memory_format=torch.contiguous_format)


class BatchNorm1d(nn.BatchNorm1d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ContiguousGrad.apply(super().forward(x))


class BatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ContiguousGrad.apply(super().forward(x))


class BatchNorm3d(nn.BatchNorm3d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ContiguousGrad.apply(super().forward(x))


class FlatBatchNorm(BatchNorm1d):
    """BatchNorm1d over [N, C, prod(spatial)]: per-channel statistics over batch and every spatial axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(x.shape[0], x.shape[1], -1)).reshape(x.shape)


CLASSES = {1: BatchNorm1d, 2: BatchNorm1d, 3: BatchNorm2d, 4: BatchNorm3d}


def build(layer: BatchNorm, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    cls = CLASSES.get(len(shapes[0]), FlatBatchNorm)
    return cls(shapes[0][0], eps=layer.epsilon, momentum=layer.momentum, affine=True, track_running_stats=True,
               dtype=dtype)


def slots(m: nn.Module) -> Slots:
    return {"weight": Slot(m.weight), "bias": Slot(m.bias)}


def buffer_slots(m: nn.Module) -> Slots:
    return {"running_mean": Slot(m.running_mean), "running_var": Slot(m.running_var)}
