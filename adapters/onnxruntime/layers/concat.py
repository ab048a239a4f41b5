"""concat -> Concat along the per-sample axis (shifted past the batch axis)."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Concat"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    rank = len(node.input_shapes[0])
    return g.op("Concat", inputs, node.name, axis=node.layer.axis % rank + 1)  # type: ignore[attr-defined]
