"""LSTM weights copied into ONNX's gate order unchanged: ONNX's LSTM operator (opset 7 on, and ONNX Runtime)
stacks its gates as `W[iofc]`, the standard (like torch.nn.LSTM and Keras) as (i, f, g, o)
(docs/spec/v1-semantics.md, divergence 8). An exporter that transposes the canonical [F, 4H] kernel into
ONNX's [4H, F] but forgets to reorder the blocks runs the forget gate on the cell-candidate weights, the
output gate on the forget weights, and so on; parameters still round-trip exactly.
"""

from __future__ import annotations

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.conformance.mutants._gates import GateOrderNet


class _Session(MutantSession):
    def __init__(self, model, recipe=None, dtype: str = "float64") -> None:
        super().__init__(model, recipe, dtype)
        self.net = GateOrderNet(self.net, "lstm", canonical_order="ifgo", framework_order="iogf")


class LSTMGateOrderAdapter(MutantAdapter):
    """lstm with ONNX's (i, o, f, c) gate order read from canonical (i, f, g, o) weights."""

    name = "mutant-lstm_gate_order"
    session_class = _Session
