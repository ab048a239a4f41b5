"""gru -> GRU(linear_before_reset=1) (the standard's reset-after; ONNX gate order (z, r, h): the standard's
(r, z, n) blocks reordered, both biases); float64: the cell unrolled over T (see _recurrent.py).

z = σ(a_z + c_z); r = σ(a_r + c_r); n = tanh(a_n + r ⊙ c_n); h_t = (1 - z) ⊙ n + z ⊙ h_{t-1},
a = x W_ih + b_ih, c = h W_hh + b_hh.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers import _recurrent as rec
from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "GRU (linear_before_reset=1, gates reordered to ONNX's z, r, h)"
FLOAT64 = rec.FLOAT64
CANONICAL, ONNX = "rzn", "zrn"  # the standard's n is ONNX's h (the candidate)


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    h = node.layer.units  # type: ignore[attr-defined]
    order = g.exporter.gate_order(node, CANONICAL, ONNX)
    w_ih, w_hh, b_ih, b_hh = (rec.blocks(params[k], h, order) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    if g.dtype != "float64":
        return rec.native(g, node, inputs[0], "GRU", (w_ih.T, w_hh.T, np.concatenate([b_ih, b_hh])),
                          linear_before_reset=1)
    n = node.name
    proj = g.op("Add", [g.op("MatMul", [inputs[0], g.param(f"{n}.W", w_ih)], f"{n}_xw"), g.param(f"{n}.Wb", b_ih)],
                f"{n}_xproj")
    r_w, r_b = g.param(f"{n}.R", w_hh), g.param(f"{n}.Rb", b_hh)
    one = g.const(f"{n}_one", 1.0)
    hs: list[str] = []
    hid = ""
    for t in range(node.input_shapes[0][0]):
        a = rec.step_input(g, proj, t, n)
        c = g.op("Add", [g.op("MatMul", [hid, r_w], f"{n}_hr{t}"), r_b], f"{n}_c{t}") if t else ""

        def rec_block(k: int, t: int = t, c: str = c) -> str:  # h_0 = 0: the recurrent part is b_hh alone
            return rec.gate(g, c, h, k, f"{n}_c{k}_{t}") if t else g.param(f"{n}.Rb{k}", b_hh[k * h:(k + 1) * h])

        z = g.op("Sigmoid", [g.op("Add", [rec.gate(g, a, h, 0, f"{n}_az{t}"), rec_block(0)], f"{n}_z{t}_pre")],
                 f"{n}_z{t}")
        r = g.op("Sigmoid", [g.op("Add", [rec.gate(g, a, h, 1, f"{n}_ar{t}"), rec_block(1)], f"{n}_r{t}_pre")],
                 f"{n}_r{t}")
        reset = g.op("Mul", [r, rec_block(2)], f"{n}_reset{t}")
        cand = g.op("Tanh", [g.op("Add", [rec.gate(g, a, h, 2, f"{n}_an{t}"), reset], f"{n}_n{t}_pre")], f"{n}_n{t}")
        new = g.op("Mul", [g.op("Sub", [one, z], f"{n}_keep{t}"), cand], f"{n}_new{t}")
        hid = g.op("Add", [new, g.op("Mul", [z, hid], f"{n}_old{t}")], f"{n}_h{t}") if t else new
        hs.append(hid)
    return rec.outputs(g, node, hs)
