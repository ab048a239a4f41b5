"""rms_norm -> nn.RMSNorm over the last `dims` axes, ε passed explicitly (torch's default, None, means the dtype's
machine ε; the standard's is 1e-6), `elementwise_affine` = `scale`. torch's formula is the standard's:
x · rsqrt(mean(x²) + ε) · weight, ε inside the root."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import RMSNorm


def build(layer: RMSNorm, shapes: list[Shape], dtype: torch.dtype) -> nn.RMSNorm:
    return nn.RMSNorm(tuple(shapes[0][-layer.dims:]), eps=layer.epsilon, elementwise_affine=layer.scale,
                      dtype=dtype)


def slots(m: nn.RMSNorm) -> Slots:
    return {"weight": Slot(m.weight)} if m.weight is not None else {}


class Decomposed(nn.Module):
    """nn.RMSNorm written out (the same formula, the same weight tensor) for `torch.onnx.export`: the TorchScript
    exporter has no ONNX form of `aten::rms_norm` below opset 23 (RMSNormalization), and deployment targets opset 17."""

    def __init__(self, m: nn.RMSNorm) -> None:
        super().__init__()
        self.dims = tuple(range(-len(m.normalized_shape), 0))
        self.eps = m.eps
        self.weight = m.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * torch.rsqrt(x.pow(2).mean(self.dims, keepdim=True) + self.eps)
        return y * self.weight if self.weight is not None else y


@contextmanager
def decomposed(net: nn.Module) -> Iterator[None]:
    """Every nn.RMSNorm inside `net` replaced by `Decomposed` for the duration (an export), then put back."""
    swapped = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.RMSNorm):
                setattr(parent, name, Decomposed(child))
                swapped.append((parent, name, child))
    try:
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
