"""Shared by lstm and gru: batch-first native recurrent layers that return the standard's output.

nn.LSTM / nn.GRU return `(output, state)`; the standard's layer returns the last hidden state `h_T`, or
every `h_t` with `return_sequences`. The subclasses `SequenceLSTM` / `SequenceGRU` only select that
output. Weights are `[gates*H, F]` in torch and `[F, gates*H]` canonically: transposed slots.
"""

from __future__ import annotations

import torch

from lockstep.adapters.torch.layers._base import Slot, Slots


class ReturnSequences:
    """Mixin for nn.LSTM / nn.GRU: zero initial state, output h_T or every h_t."""

    return_sequences: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, _ = super().forward(x)  # type: ignore[misc]
        return out if self.return_sequences else out[:, -1]


def weight_slots(m: torch.nn.Module) -> Slots:
    return {"weight_ih": Slot(m.weight_ih_l0, transpose=True), "weight_hh": Slot(m.weight_hh_l0, transpose=True)}
