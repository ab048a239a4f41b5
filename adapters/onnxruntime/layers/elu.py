"""elu -> Elu(alpha); float64: Where(x > 0, x, α·(Exp(Min(x, 0)) − 1)) (no float64 Elu kernel)."""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "Elu"
FLOAT64 = "float64: Where, Exp, Sub, Mul (ONNX Runtime's CPU provider has no float64 Elu)"


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    alpha = float(node.layer.alpha)  # type: ignore[attr-defined]
    if g.dtype != "float64":
        return g.op("Elu", inputs, node.name, alpha=alpha)
    x, n = inputs[0], node.name
    zero = g.const(f"{n}_zero", 0.0)
    em1 = g.op("Sub", [g.op("Exp", [g.op("Min", [x, zero], f"{n}_neg")], f"{n}_exp"), g.const(f"{n}_one", 1.0)],
               f"{n}_expm1")
    negative = g.op("Mul", [em1, g.const(f"{n}_alpha", alpha)], f"{n}_negative")
    return g.op("Where", [g.op("Greater", [x, zero], f"{n}_positive"), x, negative], n)
