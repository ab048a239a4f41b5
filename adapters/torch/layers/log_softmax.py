"""log_softmax -> native `one(nn.LogSoftmax(dim=batched(layer.axis)))`."""

from torch import nn

from lockstep.adapters.torch.layers._simple import batched, one


def build(layer, shapes, dtype):
    return one(nn.LogSoftmax(dim=batched(layer.axis)))
