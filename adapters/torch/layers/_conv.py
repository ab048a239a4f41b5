"""Shared by conv1d and conv2d: geometry and the padding decision.

torch's `padding` is symmetric per axis (and `padding='same'` refuses stride > 1), while the standard's
'same' puts the odd element at the end (bottom/right) and explicit padding may be asymmetric. Symmetric
padding stays a native `padding=`; anything else becomes an explicit `F.pad` in front of the native
convolution, in a documented subclass (`PaddedConv1d`, `PaddedConv2d`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Conv1d, Conv2d


def f_pad(pads: tuple[tuple[int, int], ...]) -> list[int]:
    """Per-axis (before, after), first spatial axis first -> F.pad's order (last axis first)."""
    out: list[int] = []
    for before, after in reversed(pads):
        out += [before, after]
    return out


def symmetric(pads: tuple[tuple[int, int], ...]) -> bool:
    return all(b == a for b, a in pads)


class PaddedConv:
    """Mixin: F.pad (zeros) with the standard's asymmetric padding, then the native convolution."""

    pre_pad: list[int]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pre_pad))  # type: ignore[misc]


def build_conv(layer: Conv1d | Conv2d, shape: Shape, dtype: torch.dtype, native: type[nn.Module],
               padded: type[nn.Module]) -> nn.Module:
    kernel, stride, dilation, pads = layer.geometry(shape)
    cls = native if symmetric(pads) else padded
    conv = cls(shape[0], layer.filters, kernel, stride=stride, dilation=dilation, groups=layer.groups,
               bias=layer.use_bias, padding=tuple(b for b, _ in pads) if cls is native else 0,
               padding_mode="zeros", dtype=dtype)
    if cls is padded:
        conv.pre_pad = f_pad(pads)
    return conv


def slots(m: nn.Module) -> Slots:
    """Kernels are `[out, in/groups, *k]` in torch and in the standard: no conversion."""
    s = {"weight": Slot(m.weight)}
    if m.bias is not None:
        s["bias"] = Slot(m.bias)
    return s
