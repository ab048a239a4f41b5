"""What every ONNX layer file shares: `Graph`, the builder a layer writes its nodes into.

A layer module turns one spec node into ONNX nodes, reading its canonical parameters (float64 NumPy, in
canonical layout) and writing them as initializers in the target dtype, laid out as the ONNX operator
wants them (dense `[in, out]` stays `[in, out]` for MatMul; LSTM/GRU blocks are transposed and reordered
into ONNX's gate order). Names are canonical where they can be (`hidden.weight`), so an exported file
reads like the spec it came from. The batch axis is the only dynamic one: per-sample shapes are static.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

if TYPE_CHECKING:
    from lockstep.adapters.onnxruntime.export import Exporter

ELEM = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "float16": TensorProto.FLOAT16}
NUMPY = {"float32": np.float32, "float64": np.float64, "float16": np.float16}


class Graph:
    """Nodes and initializers of one exported model, in one float dtype at one opset."""

    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter
        self.dtype: str = exporter.dtype
        self.opset: int = exporter.opset
        self.elem = ELEM[self.dtype]
        self.np = NUMPY[self.dtype]
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()

    def name(self, hint: str) -> str:
        """A tensor or node name not used before, derived from `hint`."""
        name, i = hint, 1
        while name in self._names:
            name, i = f"{hint}_{i}", i + 1
        self._names.add(name)
        return name

    def reserve(self, name: str) -> None:
        self._names.add(name)

    def param(self, hint: str, value: np.ndarray) -> str:
        """An initializer in the model's float dtype (a parameter, or a constant derived from one)."""
        name = self.name(hint)
        with np.errstate(over="ignore"):  # a value past the dtype's range is inf there: the prediction check says so
            self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=self.np), name))
        return name

    def const(self, hint: str, value: Any) -> str:
        """A float constant in the model's dtype (a scalar or an array)."""
        return self.param(hint, np.asarray(value, dtype=np.float64))

    def ints(self, hint: str, values: Sequence[int] | np.ndarray | int) -> str:
        """An int64 constant (shapes, axes, indices, pads)."""
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str, *, outputs: int = 1, **attrs: Any) -> Any:
        """Append one node; returns its output name (or the list of them when `outputs` > 1)."""
        outs = [self.name(hint if outputs == 1 else f"{hint}_{k}") for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.name(f"{hint}/{op_type}"),
                                           **attrs))
        return outs[0] if outputs == 1 else outs

    # --------------------------------------------------------------------- ops whose form moved by opset
    def reduce(self, op_type: str, x: str, axes: Sequence[int], hint: str, keepdims: int = 1) -> str:
        """ReduceMean/ReduceMax/ReduceSum over `axes`: an attribute before opset 18 (ReduceSum: 13), an input after."""
        if self.opset >= 18 or op_type == "ReduceSum":
            return self.op(op_type, [x, self.ints(f"{hint}_axes", list(axes))], hint, keepdims=keepdims)
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=keepdims)

    def slice(self, x: str, start: int, end: int, axis: int, hint: str) -> str:
        return self.op("Slice", [x, self.ints(f"{hint}_starts", [start]), self.ints(f"{hint}_ends", [end]),
                                 self.ints(f"{hint}_axes", [axis])], hint)

    def squeeze(self, x: str, axes: Sequence[int], hint: str) -> str:
        return self.op("Squeeze", [x, self.ints(f"{hint}_axes", list(axes))], hint)

    def unsqueeze(self, x: str, axes: Sequence[int], hint: str) -> str:
        return self.op("Unsqueeze", [x, self.ints(f"{hint}_axes", list(axes))], hint)

    def reshape(self, x: str, shape: Sequence[int], hint: str) -> str:
        """Reshape to `shape`; 0 keeps the input's axis (the dynamic batch axis), -1 is inferred."""
        return self.op("Reshape", [x, self.ints(f"{hint}_shape", list(shape))], hint)

    def add_bias(self, y: str, bias: np.ndarray, shape: Sequence[int], hint: str) -> str:
        return self.op("Add", [y, self.param(hint, np.reshape(bias, shape))], f"{hint}_add")


def batched_axis(axis: int) -> int:
    """A per-sample axis (spec) as an axis of the batched tensor."""
    return axis if axis < 0 else axis + 1
