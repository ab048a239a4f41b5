"""avg_pool2d -> AveragePool(count_include_pad=0): padding is not counted, as the standard says.

float64: Pad, a window Gather, ReduceSum and a division by the in-bounds count (ONNX Runtime's CPU
provider has no float64 AveragePool).
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.adapters.onnxruntime.layers._window import inside_count, windows
from lockstep.spec.graph import Node

OP = "AveragePool (count_include_pad=0, explicit pads)"
FLOAT64 = "float64: Pad, a window Gather, ReduceSum and Div by the in-bounds count (no float64 AveragePool)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    shape = node.input_shapes[0]
    kernel, stride, resolved = node.layer.geometry(shape)  # type: ignore[attr-defined]
    pads = g.exporter.pads(node, resolved)
    if g.dtype != "float64":
        return g.op("AveragePool", inputs, node.name, kernel_shape=list(kernel), strides=list(stride),
                    pads=pads, count_include_pad=0)
    out = node.shape[1:]
    win = windows(g, inputs[0], shape, kernel, stride, (1, 1), pads, out, node.name)
    total = g.reduce("ReduceSum", win, [3], f"{node.name}_sum", keepdims=0)
    total = g.reshape(total, [0, shape[0], *out], f"{node.name}_sum_shaped")
    count = g.const(f"{node.name}_count", inside_count(shape[1:], kernel, stride, pads, out))
    return g.op("Div", [total, count], node.name)
