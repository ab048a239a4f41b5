"""An exporter that writes the standard's 'same' as ONNX's SAME_LOWER: the odd padding element first.

ONNX's `auto_pad` has both SAME_UPPER (the odd element at the end: TensorFlow's SAME, the standard's
'same') and SAME_LOWER (at the start); an exporter that maps 'same' to SAME_LOWER, or computes explicit
`pads` as (total − total//2, total//2), shifts every strided 'same' window by one row or column. Only a
strided axis with an odd total padding shows it, in Conv, MaxPool and AveragePool.
"""

from __future__ import annotations

from lockstep.conformance.mutants._export import ExportMutantAdapter, MutantExporter
from lockstep.spec.graph import Node


class _Exporter(MutantExporter):
    def pads(self, node: Node, pads: tuple[tuple[int, int], ...]) -> list[int]:
        if node.layer.padding != "same":  # type: ignore[attr-defined]
            return super().pads(node, pads)
        stride = node.layer.geometry(node.input_shapes[0])[1]  # type: ignore[attr-defined]
        swapped = [(a, b) if s > 1 else (b, a) for s, (b, a) in zip(stride, pads, strict=True)]  # the bug
        return super().pads(node, tuple(swapped))


class ExportSamePaddingLowerAdapter(ExportMutantAdapter):
    """'same' exported with the odd element first on strided axes (SAME_LOWER)."""

    name = "mutant-export_same_padding_lower"
    exporter = _Exporter
