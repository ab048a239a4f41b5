"""Shared by conv1d and conv2d: the native Conv (float32, float16), its float64 form, the pads.

The kernel is `[out, in/groups, *k]` in ONNX and in the standard: written unchanged. Padding is always
explicit `pads` from the exporter's `pads` seam (the standard's 'same' resolved with the odd element at the
end, ONNX's SAME_UPPER), never `auto_pad`.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.adapters.onnxruntime.layers._window import windows
from lockstep.spec.graph import Node

OP = "Conv (explicit pads)"
FLOAT64 = "float64: Pad, a window Gather and Einsum (ONNX Runtime's CPU provider has no float64 Conv)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    layer = node.layer
    shape = node.input_shapes[0]
    kernel, stride, dilation, resolved = layer.geometry(shape)  # type: ignore[attr-defined]
    pads = g.exporter.pads(node, resolved)
    w = params["weight"]
    if g.dtype != "float64":
        args = [inputs[0], g.param(f"{node.name}.weight", w)]
        if layer.use_bias:  # type: ignore[attr-defined]
            args.append(g.param(f"{node.name}.bias", params["bias"]))
        return g.op("Conv", args, node.name, kernel_shape=list(kernel), strides=list(stride),
                    dilations=list(dilation), group=layer.groups, pads=pads)  # type: ignore[attr-defined]
    out = node.shape[1:]
    groups, channels, filters = layer.groups, shape[0], w.shape[0]  # type: ignore[attr-defined]
    win = windows(g, inputs[0], shape, kernel, stride, dilation, pads, out, node.name)
    win = g.reshape(win, [0, groups, channels // groups, int(np.prod(out)), int(np.prod(kernel))],
                    f"{node.name}_grouped")
    wg = g.param(f"{node.name}.weight", w.reshape(groups, filters // groups, channels // groups, -1))
    y = g.op("Einsum", [win, wg], f"{node.name}_einsum", equation="ngcok,gfck->ngfo")
    y = g.reshape(y, [0, filters, *out], f"{node.name}_out")
    if layer.use_bias:  # type: ignore[attr-defined]
        y = g.add_bias(y, params["bias"], [filters, *([1] * len(out))], f"{node.name}.bias")
    return y
