"""dense -> nn.Linear. The canonical weight `[in, out]` is `Linear.weight` (`[out, in]`) transposed."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Dense


def build(layer: Dense, shapes: list[Shape], dtype: torch.dtype) -> nn.Linear:
    return nn.Linear(shapes[0][-1], layer.units, bias=layer.use_bias, dtype=dtype)


def slots(m: nn.Linear) -> Slots:
    s = {"weight": Slot(m.weight, transpose=True)}
    if m.bias is not None:
        s["bias"] = Slot(m.bias)
    return s
