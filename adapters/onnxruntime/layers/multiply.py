"""multiply -> Mul, left to right over the inputs (the order of a float product is part of the result)."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Mul"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    y = inputs[0]
    for i, x in enumerate(inputs[1:], start=1):
        y = g.op("Mul", [y, x], node.name if i == len(inputs) - 1 else f"{node.name}_{i}")
    return y
