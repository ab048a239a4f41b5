"""dense -> MatMul (+ Add). The canonical weight `[in, out]` is MatMul's right operand as it is.

A rank-2 input with a bias is one Gemm (y = x W + b), the operator exporters write for a linear layer.
Tied to an embedding (`tied_to`): W is that table transposed, written as its own initializer `<table>.weight_T`.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Gemm (rank-2 input) or MatMul + Add"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    tied = node.layer.tied_to  # type: ignore[attr-defined]
    # tied: the embedding's table [units, in], transposed into MatMul's [in, out] (the file holds it twice)
    w = g.param(f"{tied}.weight_T", params["weight"].T) if tied else g.param(f"{node.name}.weight", params["weight"])
    use_bias = node.layer.use_bias  # type: ignore[attr-defined]
    if len(node.input_shapes[0]) == 1 and use_bias:
        return g.op("Gemm", [inputs[0], w, g.param(f"{node.name}.bias", params["bias"])], node.name)
    y = g.op("MatMul", [inputs[0], w], node.name if not use_bias else f"{node.name}_matmul")
    if use_bias:
        y = g.op("Add", [y, g.param(f"{node.name}.bias", params["bias"])], node.name)
    return y
