"""gelu -> Gelu(approximate) from opset 20; before it, x·½(1 + Erf(x/√2)) or the tanh formula in operators.

float64: the tanh form in Mul/Add/Tanh; `approximate: none` has no float64 export, since ONNX Runtime's CPU
provider has no float64 Erf (nor Gelu) kernel and any float32 detour would break the float64 rule.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node
from lockstep.spec.layers import GELU

OP = "Gelu (opset 20 on; Erf or Tanh formula before)"
FLOAT64 = "float64: approximate tanh only, in Mul/Add/Tanh (no float64 Erf kernel for approximate none)"


def provenance(dtype: str, opset: int) -> tuple[str, str]:
    """(status, note): the Gelu operator is native from opset 20 in float32; the formulas are written."""
    if dtype == "float64":
        return "written", FLOAT64
    if opset >= 20:
        return "native", "Gelu(approximate)"
    return "written", f"x·½(1 + Erf(x/√2)) or the tanh formula in operators (opset {opset} has no Gelu)"


def problem(layer: GELU, dtype: str, opset: int) -> str | None:
    if dtype == "float64" and layer.approximate == "none":
        return "approximate `none` has no float64 form on ONNX Runtime (its CPU provider has no float64 Erf)"
    return None


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    approximate = node.layer.approximate  # type: ignore[attr-defined]
    x, n = inputs[0], node.name
    if g.opset >= 20 and g.dtype != "float64":
        return g.op("Gelu", inputs, n, approximate=approximate)
    half = g.const(f"{n}_half", 0.5)
    one = g.const(f"{n}_one", 1.0)
    if approximate == "none":
        erf = g.op("Erf", [g.op("Mul", [x, g.const(f"{n}_rsqrt2", 1.0 / math.sqrt(2.0))], f"{n}_scaled")], f"{n}_erf")
        cdf = g.op("Mul", [g.op("Add", [erf, one], f"{n}_erf1"), half], f"{n}_cdf")
        return g.op("Mul", [x, cdf], n)
    cube = g.op("Mul", [g.op("Mul", [x, x], f"{n}_sq"), x], f"{n}_cube")
    inner = g.op("Add", [x, g.op("Mul", [cube, g.const(f"{n}_a", 0.044715)], f"{n}_ax3")], f"{n}_inner")
    u = g.op("Mul", [inner, g.const(f"{n}_c", math.sqrt(2.0 / math.pi))], f"{n}_u")
    t = g.op("Add", [g.op("Tanh", [u], f"{n}_tanh"), one], f"{n}_tanh1")
    return g.op("Mul", [g.op("Mul", [x, t], f"{n}_xt"), half], n)
