"""log_softmax -> LogSoftmax(axis) (opset 13 on: along that one axis, as the standard says)."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph, batched_axis
from lockstep.spec.graph import Node

OP = "LogSoftmax"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    return g.op("LogSoftmax", inputs, node.name, axis=batched_axis(node.layer.axis))  # type: ignore[attr-defined]
