"""leaky_relu -> LeakyRelu(alpha = negative_slope); float64: Where(x > 0, x, x · slope) with a float64 slope.

ONNX float attributes are 32-bit: LeakyRelu's alpha of 0.01 is 0.0099999998, 2e-8 off, which a float64
model must not inherit (the float64 rule is 1e-10), so the float64 form carries the slope as a tensor.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "LeakyRelu"
FLOAT64 = "float64: Where(x > 0, x, x·slope) with a float64 slope (ONNX's float attribute alpha is 32-bit)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    slope = float(node.layer.negative_slope)  # type: ignore[attr-defined]
    if g.dtype != "float64":
        return g.op("LeakyRelu", inputs, node.name, alpha=slope)
    x, n = inputs[0], node.name
    negative = g.op("Mul", [x, g.const(f"{n}_slope", slope)], f"{n}_negative")
    return g.op("Where", [g.op("Greater", [x, g.const(f"{n}_zero", 0.0)], f"{n}_positive"), x, negative], n)
