"""GRU weights copied into Keras's gate order unchanged: keras.layers.GRU (and ONNX's GRU, `W[zrh]`) stacks
(z, r, h), the standard and torch.nn.GRU (r, z, n) (docs/spec/v1-semantics.md, divergence 9). An adapter
that copies the canonical kernel columns verbatim swaps the reset and update gates; every shape still
fits and parameters round-trip exactly.
"""

from __future__ import annotations

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.conformance.mutants._gates import GateOrderNet


class _Session(MutantSession):
    def __init__(self, model, recipe=None, dtype: str = "float64") -> None:
        super().__init__(model, recipe, dtype)
        self.net = GateOrderNet(self.net, "gru", canonical_order="rzn", framework_order="zrn")


class GRUGateOrderAdapter(MutantAdapter):
    """gru with Keras's (z, r, h) gate order read from canonical (r, z, n) weights."""

    name = "mutant-gru_gate_order"
    session_class = _Session
