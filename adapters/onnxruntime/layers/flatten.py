"""flatten -> Flatten(axis=1): row-major over the channels-first layout, as the standard says."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Flatten"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.op("Flatten", inputs, node.name, axis=1)
