"""Shared by lstm and gru: keras.layers.LSTM/GRU (zero initial state), returning h_T or every h_t.

Keras's cell holds `kernel` `[F, gates*H]` and `recurrent_kernel` `[H, gates*H]`, the canonical
`[in, gates*units]` layouts; only the order of the gate blocks may differ (`gate_columns`)."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.tensorflow.layers._base import Slot, Slots


def weight_slots(m, columns: np.ndarray | None = None) -> Slots:
    """`weight_ih` / `weight_hh`, with the gate blocks reordered by `columns` (None: same order)."""
    view = None if columns is None else (lambda a: a[:, columns])
    return {"weight_ih": Slot.of(m.cell.kernel, view), "weight_hh": Slot.of(m.cell.recurrent_kernel, view)}
