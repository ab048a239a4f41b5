"""dropout: torch's own RNG cannot reproduce the standard's stream, so the adapter multiplies by the
standard's keep-mask (given per step) and scales by 1/(1 - rate), exactly as nn.Dropout does with its own."""

from lockstep.adapters.torch.layers._base import Wrapped


class Dropout(Wrapped):
    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, inputs, mask=None):
        x = inputs[0]
        if not self.training or self.rate == 0.0:
            return x
        if mask is None:
            raise ValueError("dropout in training needs the standard's keep-mask")
        return x * mask / (1.0 - self.rate)


def build(layer, shapes, dtype):
    return Dropout(layer.rate)
