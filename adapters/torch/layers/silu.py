"""silu -> native `one(nn.SiLU())`."""

from torch import nn

from lockstep.adapters.torch.layers._simple import batched, one  # noqa: F401


def build(layer, shapes, dtype):
    return one(nn.SiLU())
