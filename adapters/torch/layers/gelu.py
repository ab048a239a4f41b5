"""gelu -> native `one(nn.GELU(approximate=layer.approximate))`."""

from torch import nn

from lockstep.adapters.torch.layers._simple import batched, one  # noqa: F401


def build(layer, shapes, dtype):
    return one(nn.GELU(approximate=layer.approximate))
