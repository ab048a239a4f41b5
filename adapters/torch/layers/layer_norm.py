"""layer_norm -> nn.LayerNorm over the last `dims` axes (biased variance, weight and bias of that shape)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import LayerNorm


def build(layer: LayerNorm, shapes: list[Shape], dtype: torch.dtype) -> nn.LayerNorm:
    return nn.LayerNorm(tuple(shapes[0][-layer.dims:]), eps=layer.epsilon, elementwise_affine=True, bias=True,
                        dtype=dtype)


def slots(m: nn.LayerNorm) -> Slots:
    return {"weight": Slot(m.weight), "bias": Slot(m.bias)}
