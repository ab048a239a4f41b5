"""dropout -> Identity: a deployed model runs in eval mode, where dropout is the identity."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Identity (eval mode)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.op("Identity", inputs, node.name)
