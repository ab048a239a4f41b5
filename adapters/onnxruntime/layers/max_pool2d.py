"""max_pool2d -> MaxPool with explicit pads (padding never wins, as the standard says: ONNX pads with -inf)."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "MaxPool (explicit pads)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    kernel, stride, resolved = node.layer.geometry(node.input_shapes[0])  # type: ignore[attr-defined]
    return g.op("MaxPool", inputs, node.name, kernel_shape=list(kernel), strides=list(stride),
                pads=g.exporter.pads(node, resolved))
