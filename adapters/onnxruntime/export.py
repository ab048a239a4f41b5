"""Export a spec Model with its canonical weights to ONNX, built directly from the standard.

No training framework is involved: each node of `spec.graph.build_graph(model)` is written by its layer
module (`adapters/onnxruntime/layers/<type>.py`, named like `reference/layers/<type>.py`) with
`onnx.helper`, at the opset and in the float dtype asked for. The result passes
`onnx.checker.check_model(full_check=True)` (`check`), takes the batch axis as its one dynamic axis and
names its inputs and outputs as the Model does.

`Exporter` holds the three places where an exporter's bugs live, as overridable methods (the export
mutants in conformance/mutants/ override one each): `pads` (where 'same' puts its odd element), `gate_order`
(how the standard's recurrent gate blocks map onto ONNX's) and `epsilon` (the normalizations' ε).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper

from lockstep import __version__
from lockstep.adapters.base import UnsupportedConstruct
from lockstep.adapters.onnxruntime import layers
from lockstep.adapters.onnxruntime.layers._base import Graph
from lockstep.spec.graph import Node, build_graph

if TYPE_CHECKING:
    from lockstep.spec.documents import Model

Arrays = dict[str, np.ndarray]

DTYPES = ("float32", "float64", "float16")
OPSETS = range(13, 24)  # the Environment's range; every layer module exports at each of them


class Exporter:
    """Spec Model + canonical weights -> onnx.ModelProto, in `dtype` at `opset`."""

    def __init__(self, *, dtype: str = "float32", opset: int = 17) -> None:
        if dtype not in DTYPES:
            raise UnsupportedConstruct(f"dtype:{dtype}", f"the exporter writes {', '.join(DTYPES)}")
        if opset not in OPSETS:
            raise UnsupportedConstruct(f"opset:{opset}", f"the exporter writes opsets {OPSETS[0]}-{OPSETS[-1]}")
        self.dtype = dtype
        self.opset = opset

    # ------------------------------------------------------------------------------ the three seams
    def pads(self, node: Node, pads: tuple[tuple[int, int], ...]) -> list[int]:
        """The standard's resolved (before, after) per spatial axis as ONNX's `pads`: every begin, then every
        end. The standard's 'same' is already resolved with the odd element at the end (ONNX's SAME_UPPER);
        explicit pads are never `auto_pad`, which would re-derive them from ONNX's own rule."""
        return [b for b, _ in pads] + [a for _, a in pads]

    def gate_order(self, node: Node, canonical: str, onnx_order: str) -> list[int]:
        """For each gate block ONNX expects, in ONNX's order, the index of that block in the standard's order
        (LSTM: the standard's (i, f, g, o) is ONNX's (i, o, f, c); GRU: (r, z, n) is ONNX's (z, r, h))."""
        return [canonical.index(gate) for gate in onnx_order]

    def epsilon(self, node: Node) -> float:
        """A normalization's ε, written as the node's `epsilon` attribute (ONNX's default is 1e-5)."""
        return float(node.layer.epsilon)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------------------------------- export
    def export(self, model: Model, params: Arrays) -> onnx.ModelProto:
        """The ONNX model of `model` with `params` (canonical names, parameters and buffers)."""
        graph = build_graph(model)
        if graph.problems:
            raise UnsupportedConstruct("model", "; ".join(p.message for p in graph.problems))
        g = Graph(self)
        values: dict[str, str] = {}
        inputs = []
        for name, shape in graph.input_shapes.items():
            elem = TensorProto.INT64 if graph.input_dtypes[name] == "int64" else g.elem
            inputs.append(helper.make_tensor_value_info(name, elem, ["N", *shape]))
            g.reserve(name)
            values[name] = name
        for out in graph.outputs:
            if out not in values:
                g.reserve(out)
        for node in graph.nodes:
            module = layers.get(node.type)
            problem = module.problem(node.layer, self.dtype, self.opset) if hasattr(module, "problem") else None
            if problem:
                raise UnsupportedConstruct(node.type, problem, layer=node.name)
            own = {**graph.param_names(node),  # tied parameters under their owner's name
                   **{k: f"{node.name}.{k}" for k in node.layer.buffers(node.input_shapes)}}
            p = {}
            for short, key in own.items():
                if key not in params:
                    raise KeyError(f"missing parameter `{key}`")
                p[short] = np.asarray(params[key], dtype=np.float64)
            values[node.name] = module.export(g, node, [values[i] for i in node.inputs], p)
        outputs = []
        for out in graph.outputs:
            if values[out] != out:
                g.nodes.append(helper.make_node("Identity", [values[out]], [out], name=g.name(f"{out}/output")))
            elem = TensorProto.INT64 if graph.input_dtypes.get(out) == "int64" else g.elem
            outputs.append(helper.make_tensor_value_info(out, elem, ["N", *graph.shape_of(out)]))
        onnx_graph = helper.make_graph(g.nodes, model.metadata.name, inputs, outputs, g.initializers)
        opset = [helper.make_opsetid("", self.opset)]
        proto = helper.make_model(onnx_graph, opset_imports=opset, producer_name="lockstep",
                                  producer_version=__version__,
                                  doc_string=f"{model.metadata.name}: exported by lockstep from the spec, {self.dtype}")
        proto.ir_version = helper.find_min_ir_version_for(opset)
        helper.set_model_props(proto, {"lockstep.model": model.metadata.name, "lockstep.dtype": self.dtype,
                                       "lockstep.exporter": "spec"})
        return proto


def check(proto: onnx.ModelProto) -> None:
    """onnx.checker.check_model with full_check (shape inference included): ValueError naming the problem."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ValueError(f"the exported ONNX model does not pass onnx.checker: {exc}") from None


def export_model(model: Model, params: Arrays, *, dtype: str = "float32", opset: int = 17,
                 exporter: type[Exporter] = Exporter) -> onnx.ModelProto:
    """Export and check: the one path deploy and the onnxruntime adapter take."""
    proto = exporter(dtype=dtype, opset=opset).export(model, params)
    check(proto)
    return proto
