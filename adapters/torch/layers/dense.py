"""dense -> nn.Linear. The canonical weight `[in, out]` is `Linear.weight` (`[out, in]`) transposed.

Tied to an embedding (`tied_to`): `Linear.weight` *is* the embedding's `weight` Parameter (`[units, in]` is
nn.Embedding's `[num_embeddings, dim]`), torch's own weight tying (`head.weight = embedding.weight`): one tensor,
whose `.grad` autograd accumulates from both uses, one optimizer state, one checkpoint array."""

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


def tie(m: nn.Linear, short: str, owner: nn.Module, owned: str) -> None:
    """Share the owner's parameter (an nn.Embedding's `weight`) as this Linear's `weight`."""
    setattr(m, short, getattr(owner, owned))
