"""positional_embedding -> `Positions`: x + P[:T].

learned: P is a native nn.Embedding(max_length, d) looked up at positions 0..T−1 (GPT-2's `wpe`), whose weight
`[max_length, d]` is the canonical one. sinusoidal: torch has no sinusoidal layer; P is the standard's table
(reference/layers/positional_embedding.py, float64, rounded once to the dtype), a non-persistent buffer."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.reference.layers.positional_embedding import sinusoidal_table
from lockstep.spec.base import Shape
from lockstep.spec.layers import PositionalEmbedding


class Positions(nn.Module):
    """x [N, T, d] + a position code [T, d]: a learned nn.Embedding, or a fixed table."""

    def __init__(self, layer: PositionalEmbedding, length: int, d: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.table = (nn.Embedding(layer.max_length, d, dtype=dtype) if layer.encoding == "learned" else None)
        code = None if self.table is not None else torch.from_numpy(sinusoidal_table(length, d, layer.base))
        self.register_buffer("code", None if code is None else code.to(dtype), persistent=False)
        self.register_buffer("positions", torch.arange(length), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.table is not None:
            return x + self.table(self.positions)
        return x + self.code


def build(layer: PositionalEmbedding, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    t, d = shapes[0]
    return Positions(layer, t, d, dtype)


def slots(m: Positions) -> Slots:
    return {"weight": Slot(m.table.weight)} if m.table is not None else {}
