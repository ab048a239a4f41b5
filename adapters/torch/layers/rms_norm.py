"""rms_norm -> nn.RMSNorm over the last `dims` axes, ε passed explicitly (torch's default, None, means the dtype's
machine ε; the standard's is 1e-6), `elementwise_affine` = `scale`. torch's formula is the standard's:
x · rsqrt(mean(x²) + ε) · weight, ε inside the root."""

from __future__ import annotations

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
