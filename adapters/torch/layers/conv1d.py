"""conv1d -> nn.Conv1d (kernel layout identical to the standard's)."""

from torch import nn

from lockstep.adapters.torch.layers._conv import build_conv


def build(layer, shapes, dtype):
    return build_conv(layer, shapes, dtype, nn.Conv1d)
