"""dropout -> `StandardDropout`, a subclass of nn.Dropout that applies the standard's keep-mask.

torch's RNG cannot reproduce the standard's stream (PCG64 per layer and step, `uniform >= rate`), so
in training the session hands each dropout layer that step's keep-mask; the layer multiplies by
`mask / (1 - rate)` as nn.Dropout does with its own Bernoulli noise (same order of operations as the
reference). Eval mode is the identity, as in nn.Dropout.
"""

from __future__ import annotations

import torch
from torch import nn

from lockstep.spec.base import Shape
from lockstep.spec.layers import Dropout


class StandardDropout(nn.Dropout):
    """nn.Dropout whose noise is the standard's keep-mask, set per step with `set_mask`."""

    def __init__(self, p: float, name: str) -> None:
        super().__init__(p=p, inplace=False)
        self.name = name
        self.scale: torch.Tensor | None = None

    def set_mask(self, keep: torch.Tensor | None) -> None:
        """This step's keep-mask as 0/1 in the layer's dtype and device (None clears it)."""
        self.scale = None if keep is None else keep / (1.0 - self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.scale is None:
            raise ValueError(f"dropout `{self.name}` in training needs the standard's keep-mask (masks=...)")
        return x * self.scale


def build(layer: Dropout, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    return StandardDropout(layer.rate, layer.name or "dropout")
