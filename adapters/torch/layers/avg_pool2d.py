"""avg_pool2d -> nn.AvgPool2d; the standard divides by the in-bounds positions only.

Symmetric padding up to half the window: native `count_include_pad=False`. Otherwise (the standard's
'same' with its odd element at the end, or larger explicit pads) `PaddedAvgPool2d`: the native window
*sum* (`divisor_override=1`) of the zero-padded input divided by the number of in-bounds positions of
each window, computed once at build time. TorchScript's ONNX export drops `divisor_override` (it writes an
AveragePool, then the division: every value divided twice, 4× too small for a 2×2 window), so under
`torch.onnx.export` the window sum is written as the window mean times the window's size, which it exports.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lockstep.adapters.torch.layers._conv import f_pad, symmetric
from lockstep.spec.base import Shape
from lockstep.spec.layers import AvgPool2d


class PaddedAvgPool2d(nn.AvgPool2d):
    """Window sums of the zero-padded input / in-bounds counts (padding is never counted)."""

    def __init__(self, kernel: tuple[int, ...], stride: tuple[int, ...], pads: list[int], size: tuple[int, int],
                 dtype: torch.dtype) -> None:
        super().__init__(kernel, stride, padding=0, divisor_override=1)
        self.pre_pad = pads
        ones = F.pad(torch.ones((1, 1, *size), dtype=dtype), pads)
        self.register_buffer("count", super().forward(ones)[0], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, self.pre_pad)
        if torch.onnx.is_in_onnx_export():  # deploy's --exporter torch: a sum its AveragePool export keeps
            size = self.kernel_size[0] * self.kernel_size[1]  # type: ignore[index]
            return F.avg_pool2d(padded, self.kernel_size, self.stride) * size / self.count
        return super().forward(padded) / self.count


def build(layer: AvgPool2d, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    kernel, stride, pads = layer.geometry(shapes[0])
    if symmetric(pads) and all(b <= k // 2 for (b, _), k in zip(pads, kernel, strict=True)):
        return nn.AvgPool2d(kernel, stride, padding=tuple(b for b, _ in pads), ceil_mode=False,
                            count_include_pad=False)
    return PaddedAvgPool2d(kernel, stride, f_pad(pads), tuple(shapes[0][1:]), dtype)
