"""multi_head_attention -> MatMul/Add projections, Reshape/Transpose into heads, MatMul, Mul by 1/√d, a causal
Add of -inf above the diagonal, Softmax, MatMul, and the output projection: the standard's formula in ONNX
operators (ONNX has no multi-head attention operator before opset 23's Attention, and the standard's
[in, out] projections and head split are written exactly so). Rotary: q and k turned by the standard's tables.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.reference.layers.multi_head_attention import rotary_tables
from lockstep.spec.graph import Node
from lockstep.spec.layers import Rotary

OP = "MatMul, Softmax (the formula in ONNX operators)"
PROVENANCE = "written"  # no attention operator in the opsets the exporter targets


def _project(g: Graph, node: Node, x: str, which: str, params: dict[str, np.ndarray]) -> str:
    y = g.op("MatMul", [x, g.param(f"{node.name}.{which}_weight", params[f"{which}_weight"])], f"{node.name}_{which}")
    if node.layer.use_bias:  # type: ignore[attr-defined]
        y = g.op("Add", [y, g.param(f"{node.name}.{which}_bias", params[f"{which}_bias"])], f"{node.name}_{which}_b")
    return y


def _rotate(g: Graph, a: str, rotary: Rotary, t: int, d: int, hint: str) -> str:
    """a·cos + turn(a)·sin over [N, H, T, d]; turn ((x, y) -> (−y, x) per pair) is a MatMul by a matrix of 0 and
    ±1 (exact), the cos/sin tables the reference's, rounded once to the dtype."""
    cos, sin = rotary_tables(rotary, t, d)
    turn = np.zeros((d, d))
    pairs = ([(i, i + d // 2) for i in range(d // 2)] if rotary.pairing == "half_split"
             else [(2 * i, 2 * i + 1) for i in range(d // 2)])
    for first, second in pairs:
        turn[second, first], turn[first, second] = -1.0, 1.0
    turned = g.op("MatMul", [a, g.const(f"{hint}_turn", turn)], f"{hint}_turned")
    return g.op("Add", [g.op("Mul", [a, g.const(f"{hint}_cos", cos)], f"{hint}_cos_part"),
                        g.op("Mul", [turned, g.const(f"{hint}_sin", sin)], f"{hint}_sin_part")], f"{hint}_rotated")


def export(g: Graph, node: Node, inputs: list[str], params: dict[str, np.ndarray]) -> str:
    t, e = node.input_shapes[0]
    heads = node.layer.num_heads  # type: ignore[attr-defined]
    d = e // heads
    n = node.name
    q, k, v = (g.op("Transpose", [g.reshape(_project(g, node, inputs[0], w, params), [0, t, heads, d], f"{n}_{w}_h")],
                    f"{n}_{w}_heads", perm=[0, 2, 1, 3]) for w in ("query", "key", "value"))
    rotary = node.layer.rotary  # type: ignore[attr-defined]
    if rotary is not None:
        q, k = (_rotate(g, a, rotary, t, d, f"{n}_{w}") for a, w in ((q, "query"), (k, "key")))
    kt = g.op("Transpose", [k], f"{n}_key_t", perm=[0, 1, 3, 2])
    scores = g.op("Mul", [g.op("MatMul", [q, kt], f"{n}_qk"), g.const(f"{n}_scale", 1.0 / math.sqrt(d))],
                  f"{n}_scores")
    if node.layer.causal:  # type: ignore[attr-defined]
        mask = np.where(np.triu(np.ones((t, t), dtype=bool), k=1), -np.inf, 0.0)
        scores = g.op("Add", [scores, g.const(f"{n}_causal_mask", mask)], f"{n}_masked")
    weights = g.op("Softmax", [scores], f"{n}_weights", axis=-1)
    o = g.op("Transpose", [g.op("MatMul", [weights, v], f"{n}_context")], f"{n}_context_t", perm=[0, 2, 1, 3])
    return _project(g, node, g.reshape(o, [0, t, e], f"{n}_merged"), "output", params)
