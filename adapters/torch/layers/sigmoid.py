"""sigmoid -> native `one(nn.Sigmoid())`."""

from torch import nn

from lockstep.adapters.torch.layers._simple import batched, one  # noqa: F401


def build(layer, shapes, dtype):
    return one(nn.Sigmoid())
