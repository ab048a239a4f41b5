"""global_avg_pool -> ReduceMean over every spatial axis ([N, C, *S] -> [N, C]); every dtype has a kernel."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "ReduceMean over the spatial axes"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    rank = len(node.input_shapes[0]) + 1
    return g.reduce("ReduceMean", inputs[0], list(range(2, rank)), node.name, keepdims=0)
