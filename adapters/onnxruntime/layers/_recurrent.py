"""Shared by lstm and gru: the standard's gate blocks in ONNX's layout and order, and the float64 form.

The standard's recurrent kernels are `[in, gates·H]` with gate blocks in its order (LSTM (i, f, g, o),
GRU (r, z, n)); ONNX's LSTM/GRU take `W [1, gates·H, in]`, `R [1, gates·H, H]` with blocks in ONNX's order
(LSTM (i, o, f, c), GRU (z, r, h)) and `B [1, 2·gates·H]` (input biases, then recurrent ones). The exporter's
`gate_order` seam says which canonical block goes where. Sequences are batch-first `[N, T, F]` in the
standard and `[T, N, F]` in ONNX (layout 0, which every runtime implements): a Transpose on each side.

ONNX Runtime's CPU provider has no float64 LSTM or GRU kernel ("does not support double yet"), so the
float64 export unrolls the recurrence over the model's static T with MatMul, Sigmoid, Tanh, Mul and Add,
in ONNX's gate order from the same reordered blocks: the seam, and any bug in it, act alike in both forms.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node

FLOAT64 = "float64: the recurrence unrolled over T in MatMul/Sigmoid/Tanh (no float64 LSTM/GRU kernel)"


def blocks(a: np.ndarray, units: int, order: list[int]) -> np.ndarray:
    """The gate blocks of the last axis of `a` (each `units` wide) in the order `order`."""
    return np.concatenate([a[..., i * units:(i + 1) * units] for i in order], axis=-1)


def native(g: Graph, node: Node, x: str, op: str, weights: tuple[np.ndarray, np.ndarray, np.ndarray],
           **attrs: object) -> str:
    """The native operator on `[T, N, F]`, returning the standard's h_T `[N, H]` or every h_t `[N, T, H]`."""
    w, r, b = weights
    layer = node.layer
    names = [g.param(f"{node.name}.W", w[None]), g.param(f"{node.name}.R", r[None]), g.param(f"{node.name}.B", b[None])]
    xt = g.op("Transpose", [x], f"{node.name}_time_major", perm=[1, 0, 2])
    y, y_h = g.op(op, [xt, *names], f"{node.name}_{op.lower()}", outputs=2, hidden_size=layer.units,  # type: ignore[attr-defined]
                  **attrs)
    if layer.return_sequences:  # type: ignore[attr-defined]
        return g.op("Transpose", [g.squeeze(y, [1], f"{node.name}_y")], node.name, perm=[1, 0, 2])
    return g.squeeze(y_h, [0], node.name)


def step_input(g: Graph, projected: str, t: int, hint: str) -> str:
    """[N, T, G·H] -> [N, G·H] at time t."""
    return g.op("Gather", [projected, g.ints(f"{hint}_t{t}", t)], f"{hint}_x{t}", axis=1)


def gate(g: Graph, z: str, units: int, k: int, hint: str) -> str:
    """Block k (ONNX order) of [N, G·H]."""
    return g.slice(z, k * units, (k + 1) * units, 1, hint)


def outputs(g: Graph, node: Node, hs: list[str]) -> str:
    """h_T, or every h_t stacked on a time axis."""
    if not node.layer.return_sequences:  # type: ignore[attr-defined]
        return g.op("Identity", [hs[-1]], node.name)
    steps = [g.unsqueeze(h, [1], f"{node.name}_h{t}_seq") for t, h in enumerate(hs)]
    return g.op("Concat", steps, node.name, axis=1) if len(steps) > 1 else g.op("Identity", steps, node.name)
