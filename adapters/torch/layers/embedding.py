"""embedding -> nn.Embedding (weight `[input_dim, output_dim]`, the standard's layout)."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import Embedding


def build(layer: Embedding, shapes: list[Shape], dtype: torch.dtype) -> nn.Embedding:
    return nn.Embedding(layer.input_dim, layer.output_dim, padding_idx=None, max_norm=None, sparse=False,
                        dtype=dtype)


def slots(m: nn.Embedding) -> Slots:
    return {"weight": Slot(m.weight)}
