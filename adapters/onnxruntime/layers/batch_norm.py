"""batch_norm -> BatchNormalization in eval mode: (x - running_mean) / √(running_var + ε) · weight + bias.

ε comes from the exporter's `epsilon` seam (ONNX's default 1e-5 is the standard's too, but a layer's own
ε must be written, not assumed). ONNX float attributes are 32-bit, so float64 folds ε into the variance
input (running_var + ε in float64, epsilon 0): ε = 1e-3 as an attribute would be 5e-11 off.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "BatchNormalization (eval: running statistics)"
FLOAT64_PROVENANCE = "bridged"  # the native operator, its ε folded into running_var
FLOAT64 = "float64: BatchNormalization with ε folded into running_var in float64 (ONNX's epsilon attribute is 32-bit)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    eps = g.exporter.epsilon(node)
    var, eps = (params["running_var"] + eps, 0.0) if g.dtype == "float64" else (params["running_var"], eps)
    args = [inputs[0], *(g.param(f"{node.name}.{k}", params[k]) for k in ("weight", "bias", "running_mean")),
            g.param(f"{node.name}.running_var", var)]
    return g.op("BatchNormalization", args, node.name, epsilon=eps)
