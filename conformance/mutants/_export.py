"""What every export mutant is built from: the onnxruntime adapter with one exporter seam opened.

The spec's ONNX exporter (adapters/onnxruntime/export.py) keeps the three places where exporters really get
the standard wrong as overridable methods of `Exporter`: `pads` ('same' padding's odd element), `gate_order`
(recurrent gate blocks) and `epsilon` (normalizations). An export mutant is `ExportMutantAdapter` with a
`MutantExporter` subclass overriding one of them and nothing else; its control is the correct onnxruntime
adapter (not the reference), so a detection shows the suite sees the exporter's bug, not ONNX Runtime's
rounding. Needs `lockstep-standard[onnx]`.
"""

from __future__ import annotations

from typing import ClassVar

from lockstep.adapters.onnxruntime import OnnxRuntimeAdapter
from lockstep.adapters.onnxruntime.export import Exporter


class MutantExporter(Exporter):
    """`Exporter` as it is: `pads`, `gate_order` and `epsilon` are the seams a mutant overrides."""


class ExportMutantAdapter(OnnxRuntimeAdapter):
    """The onnxruntime adapter exporting with `exporter` (a MutantExporter subclass)."""

    name: ClassVar[str] = "mutant-export-none"  # type: ignore[misc]
    exporter: ClassVar[type[Exporter]] = MutantExporter

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "mutant": self.name}
