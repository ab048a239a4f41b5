"""Execute a whole Model (sequence or graph) in float64: forward, and backward by reverse accumulation.

Node order, naming and shapes come from `lockstep.spec.graph`, shared with the validator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.reference import layers as ref_layers
from lockstep.reference.layers.context import ForwardContext
from lockstep.spec.documents import Model
from lockstep.spec.graph import ModelGraph, build_graph
from lockstep.spec.layers import ParamSpec


class ReferenceModel:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.graph: ModelGraph = build_graph(model)
        if self.graph.problems:
            raise ValueError("; ".join(p.message for p in self.graph.problems))
        self.param_specs: dict[str, ParamSpec] = self.graph.parameters()
        self.buffer_specs: dict[str, ParamSpec] = self.graph.buffers()
        self.layer_names = [n.name for n in self.graph.nodes]
        self.input_names = list(self.graph.input_shapes)
        self._tape: list[tuple[Any, Any]] = []

    def dropout_layers(self) -> dict[str, tuple[tuple[int, ...], float]]:
        """Dropout layers in training need a keep-mask of this per-sample shape each step."""
        return {n.name: (n.shape, n.layer.rate) for n in self.graph.nodes
                if n.type == "dropout" and n.layer.rate > 0}  # type: ignore[attr-defined]

    def forward_with_intermediates(self, inputs: np.ndarray | dict[str, np.ndarray], params: dict[str, np.ndarray],
                                   buffers: dict[str, np.ndarray] | None = None, *, training: bool = False,
                                   masks: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        if not isinstance(inputs, dict):
            inputs = {self.input_names[0]: inputs}
        values: dict[str, np.ndarray] = {}
        for name in self.input_names:
            x = np.asarray(inputs[name])
            values[name] = x if self.graph.input_dtypes[name] == "int64" else x.astype(np.float64, copy=False)
        buffers = buffers if buffers is not None else {}
        self._tape = []
        for node in self.graph.nodes:
            prefix = node.name + "."
            p = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
            b = {k[len(prefix):]: v for k, v in buffers.items() if k.startswith(prefix)}
            ctx = ForwardContext(training, b, (masks or {}).get(node.name))
            y, cache = ref_layers.get(node.type).forward(node.layer, [values[i] for i in node.inputs], p, ctx)
            values[node.name] = y
            self._tape.append((node, cache))
        return values

    def forward(self, inputs: np.ndarray | dict[str, np.ndarray], params: dict[str, np.ndarray],
                buffers: dict[str, np.ndarray] | None = None, *, training: bool = False,
                masks: dict[str, np.ndarray] | None = None) -> np.ndarray | list[np.ndarray]:
        values = self.forward_with_intermediates(inputs, params, buffers, training=training, masks=masks)
        outs = [values[o] for o in self.graph.outputs]
        return outs[0] if len(outs) == 1 else outs

    def backward(self, grad_output: np.ndarray | list[np.ndarray]) -> dict[str, np.ndarray]:
        """d loss / d parameter for the last forward, given d loss / d output(s)."""
        gouts = grad_output if isinstance(grad_output, list) else [grad_output]
        grads_of: dict[str, np.ndarray] = {}
        for name, g in zip(self.graph.outputs, gouts, strict=True):
            grads_of[name] = grads_of.get(name, 0) + g
        pgrads: dict[str, np.ndarray] = {}
        for node, cache in reversed(self._tape):
            g = grads_of.pop(node.name, None)
            if g is None:
                continue
            dins, dparams = ref_layers.get(node.type).backward(node.layer, g, cache)
            for k, v in dparams.items():
                pgrads[f"{node.name}.{k}"] = v
            for src, d in zip(node.inputs, dins, strict=True):
                if d is not None:
                    grads_of[src] = grads_of[src] + d if src in grads_of else d
        for name in self.param_specs:
            pgrads.setdefault(name, np.zeros(self.param_specs[name].shape))
        return {k: pgrads[k] for k in self.param_specs}

