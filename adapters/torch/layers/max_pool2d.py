"""max_pool2d -> nn.MaxPool2d.

torch pads max-pooling with -inf natively, but only symmetrically and at most half the window; the
standard's 'same' (odd element at the end) or larger explicit pads become `PaddedMaxPool2d`: an explicit
F.pad with -inf (padded positions never win, as the standard says), then the native pool.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lockstep.adapters.torch.layers._conv import f_pad, symmetric
from lockstep.spec.base import Shape
from lockstep.spec.layers import MaxPool2d


class PaddedMaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d after F.pad with -inf by the standard's (possibly asymmetric) padding."""

    def __init__(self, kernel: tuple[int, ...], stride: tuple[int, ...], pads: list[int]) -> None:
        super().__init__(kernel, stride, padding=0)
        self.pre_pad = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pre_pad, value=float("-inf")))


def build(layer: MaxPool2d, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    kernel, stride, pads = layer.geometry(shapes[0])
    if symmetric(pads) and all(b <= k // 2 for (b, _), k in zip(pads, kernel, strict=True)):
        return nn.MaxPool2d(kernel, stride, padding=tuple(b for b, _ in pads), dilation=1, ceil_mode=False)
    return PaddedMaxPool2d(kernel, stride, f_pad(pads))
