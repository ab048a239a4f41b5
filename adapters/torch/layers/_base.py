"""What every torch layer wrapper provides: a forward over a list of inputs, and the map between the
standard's canonical parameters and torch's own (which tensor, which slice, transposed or not)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Slot:
    """Canonical parameter <-> torch tensor: `param[index]`, transposed when `transpose` (2-D)."""

    param: torch.Tensor
    index: slice | None = None
    transpose: bool = False

    def view(self, tensor: torch.Tensor | None = None) -> torch.Tensor:
        t = self.param if tensor is None else tensor
        if self.index is not None:
            t = t[self.index]
        return t.T if self.transpose else t

    def write(self, value: torch.Tensor, tensor: torch.Tensor | None = None) -> None:
        with torch.no_grad():
            self.view(tensor).copy_(value)


class Wrapped(nn.Module):
    """A spec layer on native torch modules. `forward(inputs, mask)`; `slots()` names its parameters."""

    def slots(self) -> dict[str, Slot]:
        return {}

    def buffer_slots(self) -> dict[str, Slot]:
        return {}


def native(module: nn.Module, **slots: tuple) -> Wrapped:
    """Wrap a single-input native module whose parameters map one to one."""

    class _Native(Wrapped):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, inputs, mask=None):
            return self.inner(inputs[0])

        def slots(self) -> dict[str, Slot]:
            return {k: Slot(getattr(self.inner, attr), None, t) for k, (attr, t) in slots.items()
                    if getattr(self.inner, attr, None) is not None}

    return _Native()
