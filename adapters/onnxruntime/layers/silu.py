"""silu -> Mul(x, Sigmoid(x))."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Mul(x, Sigmoid(x))"
PROVENANCE = "written"  # the formula: ONNX has no SiLU operator


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.op("Mul", [inputs[0], g.op("Sigmoid", inputs, f"{node.name}_sigmoid")], node.name)
