"""One module per spec v1 layer type, named after the type (`dense.py`, `conv2d.py`, ...), as in
`reference/layers/`, `adapters/torch/layers/` and `adapters/tensorflow/layers/`.

Each module has `OP` (the ONNX operator(s) it writes, for `support()`), `export(g, node, inputs, params)
-> output name` (writes the node's ONNX nodes into the `Graph` g, from the float64 canonical `params`
by short name) and, where some dtype or opset has no ONNX form on ONNX Runtime, `problem(layer, dtype,
opset) -> str | None` (the reason, which the exporter raises as UnsupportedConstruct naming the layer).
Where ONNX Runtime's CPU provider has no float64 kernel for the operator (Conv, AveragePool, LSTM, GRU,
Elu), the module writes the same math from operators that have one, and `FLOAT64` says how.
"""

from __future__ import annotations

from types import ModuleType

from lockstep.adapters.base import layer_part
from lockstep.spec import constructs

TYPES: tuple[str, ...] = constructs.names("layer")

UNSUPPORTED: dict[str, str] = {}
"""Layer types this backend declares it cannot map, with the reason (none in v1): tests/test_construct_coverage.py
accepts a declaration here instead of a module, and `get` refuses the type with the reason."""


def get(type_name: str) -> ModuleType:
    """The ONNX export of a spec layer type, adapters/onnxruntime/layers/<type>.py:
    MissingPart names the file to write when the module is missing."""
    return layer_part(type_name, "onnx", UNSUPPORTED, f"no ONNX export for layer `{type_name}`")
