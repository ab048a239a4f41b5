"""dense -> nn.Linear; canonical weight [in, out] is Linear.weight [out, in] transposed."""

from torch import nn

from lockstep.adapters.torch.layers._base import native


def build(layer, shapes, dtype):
    return native(nn.Linear(shapes[0][-1], layer.units, bias=layer.use_bias, dtype=dtype),
                  weight=("weight", True), bias=("bias", False))
