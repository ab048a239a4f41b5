"""softmax -> native `one(nn.Softmax(dim=batched(layer.axis)))`."""

from torch import nn  # noqa: F401

from lockstep.adapters.torch.layers._simple import batched, one  # noqa: F401


def build(layer, shapes, dtype):
    return one(nn.Softmax(dim=batched(layer.axis)))
