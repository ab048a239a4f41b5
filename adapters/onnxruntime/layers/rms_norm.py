"""rms_norm -> the formula in Mul, ReduceMean, Add, Sqrt, Div (and Mul by the weight), ε inside the root as a
tensor in the model's dtype. ONNX's own RMSNormalization arrives only at opset 23 (the Environment's range starts
at 13) and carries ε as a 32-bit attribute, which float64 cannot use (see layer_norm.py): one form for every
opset and dtype."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Mul, ReduceMean, Add, Sqrt, Div (+ Mul by the weight)"
FLOAT64 = "float64: the same formula (every operator has a float64 kernel), ε a float64 tensor"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    layer = node.layer
    x = inputs[0]
    axes = list(range(-layer.dims, 0))  # type: ignore[attr-defined]
    mean_sq = g.reduce("ReduceMean", g.op("Mul", [x, x], f"{node.name}_sq"), axes, f"{node.name}_mean_sq")
    rms = g.op("Sqrt", [g.op("Add", [mean_sq, g.const(f"{node.name}_epsilon", g.exporter.epsilon(node))],
                             f"{node.name}_mean_sq_eps")], f"{node.name}_rms")
    if not layer.scale:  # type: ignore[attr-defined]
        return g.op("Div", [x, rms], node.name)
    x_hat = g.op("Div", [x, rms], f"{node.name}_normalized")
    return g.op("Mul", [x_hat, g.param(f"{node.name}.weight", params["weight"])], node.name)
