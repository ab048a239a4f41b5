"""positional_embedding -> Add of the position code [T, d] (T is static): the learned table's first T rows, or the
standard's sinusoidal table (float64, rounded once to the dtype), broadcast over the batch."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.reference.layers.positional_embedding import sinusoidal_table
from lockstep.spec.graph import Node

OP = "Add"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    layer = node.layer
    t, d = node.input_shapes[0]
    if layer.encoding == "learned":  # type: ignore[attr-defined]
        code = g.param(f"{node.name}.weight", params["weight"][:t])
    else:
        code = g.const(f"{node.name}_code", sinusoidal_table(t, d, layer.base))  # type: ignore[attr-defined]
    return g.op("Add", [inputs[0], code], node.name)
