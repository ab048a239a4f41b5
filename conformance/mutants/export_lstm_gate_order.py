"""An exporter that transposes the standard's LSTM kernels into ONNX's [4H, F] without reordering the gate
blocks: ONNX's LSTM reads (i, o, f, c), the standard (like torch and Keras) writes (i, f, g, o)
(docs/spec/v1-semantics.md, divergence 8). The model exports, checks and runs; its forget gate runs on the
cell-candidate weights, its output gate on the forget weights. The float64 form (the unrolled cell) reads
the same reordered blocks, so it shows there too.
"""

from __future__ import annotations

from lockstep.conformance.mutants._export import ExportMutantAdapter, MutantExporter
from lockstep.spec.graph import Node


class _Exporter(MutantExporter):
    def gate_order(self, node: Node, canonical: str, onnx_order: str) -> list[int]:
        if node.type == "lstm":
            return list(range(len(canonical)))  # the bug: the canonical blocks as they are
        return super().gate_order(node, canonical, onnx_order)


class ExportLSTMGateOrderAdapter(ExportMutantAdapter):
    """lstm exported with the standard's (i, f, g, o) blocks in ONNX's (i, o, f, c) slots."""

    name = "mutant-export_lstm_gate_order"
    exporter = _Exporter
