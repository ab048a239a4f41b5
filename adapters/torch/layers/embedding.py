"""embedding -> nn.Embedding (same layout)."""

from torch import nn

from lockstep.adapters.torch.layers._base import native


def build(layer, shapes, dtype):
    return native(nn.Embedding(layer.input_dim, layer.output_dim, dtype=dtype), weight=("weight", False))
