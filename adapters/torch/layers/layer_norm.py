"""layer_norm -> nn.LayerNorm over the last `dims` axes."""

from torch import nn

from lockstep.adapters.torch.layers._base import native


def build(layer, shapes, dtype):
    return native(nn.LayerNorm(tuple(shapes[0][-layer.dims:]), eps=layer.epsilon, dtype=dtype),
                  weight=("weight", False), bias=("bias", False))
