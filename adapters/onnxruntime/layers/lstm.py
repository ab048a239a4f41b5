"""lstm -> LSTM (ONNX gate order (i, o, f, c): the standard's (i, f, g, o) blocks reordered; one bias, the
recurrent bias zero); float64: the cell unrolled over T (see _recurrent.py).

i, o, f = σ(z_i), σ(z_o), σ(z_f); c̃ = tanh(z_c); c_t = f ⊙ c_{t-1} + i ⊙ c̃; h_t = o ⊙ tanh(c_t).
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers import _recurrent as rec
from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

OP = "LSTM (gates reordered to ONNX's i, o, f, c)"
FLOAT64 = rec.FLOAT64
CANONICAL, ONNX = "ifco", "iofc"  # the standard's g is ONNX's c (the cell candidate)


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    h = node.layer.units  # type: ignore[attr-defined]
    order = g.exporter.gate_order(node, CANONICAL, ONNX)
    w_ih, w_hh, bias = (rec.blocks(params[k], h, order) for k in ("weight_ih", "weight_hh", "bias"))
    if g.dtype != "float64":
        return rec.native(g, node, inputs[0], "LSTM", (w_ih.T, w_hh.T, np.concatenate([bias, np.zeros_like(bias)])))
    n = node.name
    proj = g.op("Add", [g.op("MatMul", [inputs[0], g.param(f"{n}.W", w_ih)], f"{n}_xw"), g.param(f"{n}.B", bias)],
                f"{n}_xproj")
    r = g.param(f"{n}.R", w_hh)
    hs: list[str] = []
    hid = cell = ""
    for t in range(node.input_shapes[0][0]):
        z = rec.step_input(g, proj, t, n)
        if t:
            z = g.op("Add", [z, g.op("MatMul", [hid, r], f"{n}_hr{t}")], f"{n}_z{t}")
        i, o, f = (g.op("Sigmoid", [rec.gate(g, z, h, k, f"{n}_{gate}{t}_pre")], f"{n}_{gate}{t}")
                   for k, gate in ((0, "i"), (1, "o"), (2, "f")))
        cand = g.op("Tanh", [rec.gate(g, z, h, 3, f"{n}_c{t}_pre")], f"{n}_cand{t}")
        new = g.op("Mul", [i, cand], f"{n}_ic{t}")
        cell = g.op("Add", [g.op("Mul", [f, cell], f"{n}_fc{t}"), new], f"{n}_cell{t}") if t else new
        hid = g.op("Mul", [o, g.op("Tanh", [cell], f"{n}_tanh_cell{t}")], f"{n}_h{t}")
        hs.append(hid)
    return rec.outputs(g, node, hs)
