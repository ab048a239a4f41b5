"""reshape -> Reshape to [N, *resolved per-sample shape] (row-major, the batch axis kept)."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Reshape"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.reshape(inputs[0], [-1, *node.shape], node.name)
