"""relu -> Relu."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Relu"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.op("Relu", inputs, node.name)
