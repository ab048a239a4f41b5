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

import importlib
from types import ModuleType

from lockstep.spec.layers import LAYER_TYPES

TYPES: tuple[str, ...] = tuple(LAYER_TYPES)


def get(type_name: str) -> ModuleType:
    """The ONNX export of a spec layer type."""
    if type_name not in LAYER_TYPES:
        raise KeyError(f"no ONNX export for layer `{type_name}`")
    return importlib.import_module(f"lockstep.adapters.onnxruntime.layers.{type_name}")
