"""embedding -> Gather(weight, indices, axis=0): rows of `[input_dim, output_dim]` by int64 index."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Gather"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.op("Gather", [g.param(f"{node.name}.weight", params["weight"]), inputs[0]], node.name, axis=0)
