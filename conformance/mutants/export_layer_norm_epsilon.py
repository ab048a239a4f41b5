"""An exporter that drops layer_norm's `epsilon` attribute: ONNX's LayerNormalization then uses its default
1e-5 whatever the layer says (the same happens when an exporter reads ε from the wrong field). Invisible
for layers with the default ε; a layer with ε = 1e-3 normalizes by √(σ² + 1e-5) instead.
"""

from __future__ import annotations

from lockstep.conformance.mutants._export import ExportMutantAdapter, MutantExporter
from lockstep.spec.graph import Node

ONNX_DEFAULT_EPSILON = 1e-5


class _Exporter(MutantExporter):
    def epsilon(self, node: Node) -> float:
        if node.type == "layer_norm":
            return ONNX_DEFAULT_EPSILON  # the bug: the attribute is not written
        return super().epsilon(node)


class ExportLayerNormEpsilonAdapter(ExportMutantAdapter):
    """layer_norm exported without its ε (ONNX's default 1e-5)."""

    name = "mutant-export_layer_norm_epsilon"
    exporter = _Exporter
