"""Parameter-free layers on native torch modules and ops."""

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Wrapped


class Lambda(Wrapped):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, inputs, mask=None):
        return self.fn(inputs)


def one(module: nn.Module) -> Wrapped:
    w = Lambda(lambda xs: module(xs[0]))
    w.inner = module
    return w


def batched(axis: int) -> int:
    return axis if axis < 0 else axis + 1


def global_avg_pool(layer, shapes, dtype):
    dims = tuple(range(2, 2 + len(shapes[0]) - 1))
    return Lambda(lambda xs: torch.mean(xs[0], dim=dims))
