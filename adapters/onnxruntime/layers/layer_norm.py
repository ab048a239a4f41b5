"""layer_norm -> LayerNormalization(axis=-dims, epsilon) from opset 17; before it, and in float64, the formula
in ReduceMean, Sub, Mul, Add, Sqrt and Div (biased variance, ε inside the root, as the standard says).

float64 cannot use LayerNormalization: ONNX float attributes are 32-bit, and ε = 1e-3 as an attribute is
8e-11 off in the output; the formula carries ε as a float64 tensor.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "LayerNormalization (opset 17 on; ReduceMean/Sqrt/Div before)"


def provenance(dtype: str, opset: int) -> tuple[str, str]:
    """(status, note): the LayerNormalization operator is native from opset 17 in float32; the formula is written."""
    if dtype == "float64":
        return "written", FLOAT64
    if opset >= 17:
        return "native", "LayerNormalization(axis=-dims, epsilon)"
    return "written", f"ReduceMean, Sub, Mul, Sqrt, Div (opset {opset} has no LayerNormalization)"
FLOAT64 = "float64: ReduceMean, Sub, Mul, Sqrt, Div with a float64 ε (ONNX's epsilon attribute is 32-bit)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    dims = node.layer.dims  # type: ignore[attr-defined]
    eps = g.exporter.epsilon(node)
    w, b = g.param(f"{node.name}.weight", params["weight"]), g.param(f"{node.name}.bias", params["bias"])
    if g.opset >= 17 and g.dtype != "float64":
        return g.op("LayerNormalization", [inputs[0], w, b], node.name, axis=-dims, epsilon=eps)
    axes = list(range(-dims, 0))
    x = inputs[0]
    mean = g.reduce("ReduceMean", x, axes, f"{node.name}_mean")
    centered = g.op("Sub", [x, mean], f"{node.name}_centered")
    var = g.reduce("ReduceMean", g.op("Mul", [centered, centered], f"{node.name}_sq"), axes, f"{node.name}_var")
    std = g.op("Sqrt", [g.op("Add", [var, g.const(f"{node.name}_epsilon", eps)], f"{node.name}_var_eps")],
               f"{node.name}_std")
    x_hat = g.op("Div", [centered, std], f"{node.name}_normalized")
    return g.op("Add", [g.op("Mul", [x_hat, w], f"{node.name}_scaled"), b], node.name)
