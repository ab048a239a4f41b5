"""What every torch layer file shares: `Slot`, the map between one canonical parameter and torch.

A canonical parameter (spec/layers.py: name, shape, layout) lives in torch as a whole tensor, a slice
of a fused tensor (attention's q/k/v rows of `in_proj_weight`), or the transpose of one (dense
`[in, out]` vs `Linear.weight [out, in]`). A `Slot` names which, so parameters, gradients and
optimizer state all convert through one description and never through copies of the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Slot:
    """Canonical parameter <-> `tensor[index]`, transposed when `transpose` (2-D only)."""

    tensor: torch.Tensor
    index: slice | None = None
    transpose: bool = False

    def view(self, of: torch.Tensor | None = None) -> torch.Tensor:
        """The canonical view of the slot's tensor, or of `of` (its gradient or optimizer state)."""
        t = self.tensor if of is None else of
        if self.index is not None:
            t = t[self.index]
        return t.T if self.transpose else t

    def write(self, value: torch.Tensor, into: torch.Tensor | None = None) -> None:
        """Copy a canonical-layout value into the slot (or into `into`, laid out like the slot's tensor)."""
        with torch.no_grad():
            self.view(into).copy_(value)


Slots = dict[str, Slot]


def batched_axis(axis: int) -> int:
    """A per-sample axis (spec) as an axis of the batched tensor."""
    return axis if axis < 0 else axis + 1
