"""sigmoid -> Sigmoid."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Sigmoid"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.op("Sigmoid", inputs, node.name)
