"""Execute a whole Model (sequence or graph) in float64: forward, and backward by reverse accumulation.

Node order, naming and per-sample shapes come from `lockstep.spec.graph` (the validator uses the same
code), so the reference can never disagree with validation on what a layer is called or what it takes.
Parameters and buffers are passed in by canonical name (`dense_0.weight`, `bn.running_mean`); nothing is
initialized here (`reference.initializers` does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lockstep.reference import layers as ref_layers
from lockstep.reference.layers.context import ForwardContext
from lockstep.spec.base import Shape
from lockstep.spec.documents import Model
from lockstep.spec.graph import ModelGraph, Node, build_graph
from lockstep.spec.layers import ParamSpec

Arrays = dict[str, np.ndarray]


@dataclass
class _Step:
    """One executed node of the last forward: what its backward needs."""

    node: Node
    cache: Any


class ReferenceModel:
    """A Model as float64 NumPy: per-sample shapes inferred, canonical names fixed, forward and backward.

    `backward` differentiates the *last* `forward` (its caches are kept); when a node's output feeds
    several nodes, or is also a model output, the gradients reaching it are summed.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self.graph: ModelGraph = build_graph(model)
        if self.graph.problems:
            raise ValueError("; ".join(p.message for p in self.graph.problems))
        self.param_specs: dict[str, ParamSpec] = self.graph.parameters()
        self.buffer_specs: dict[str, ParamSpec] = self.graph.buffers()
        self.layer_names: list[str] = [n.name for n in self.graph.nodes]
        self.input_names: list[str] = list(self.graph.input_shapes)
        self.output_names: list[str] = list(self.graph.outputs)
        self.shapes: dict[str, Shape] = {n.name: n.shape for n in self.graph.nodes}  # per sample
        # short name -> canonical name, per node
        self._param_names = {n.name: self.graph.param_names(n) for n in self.graph.nodes}  # ties included
        self._buffer_names = {n.name: {k: f"{n.name}.{k}" for k in n.layer.buffers(n.input_shapes)}
                              for n in self.graph.nodes}
        self._tape: list[_Step] = []
        self._inputs: Arrays = {}
        self.input_gradients: dict[str, np.ndarray | None] = {}  # d/d each model input, set by `backward`
        self.output_gradients: Arrays = {}  # d/d each node's output in the last `backward` (not copies)
        self.last_values: Arrays = {}  # each node's output in the last forward (not copies)

    def layer_module(self, layer_type: str) -> Any:
        """The reference module (forward, backward) of a layer type: the seam the kink mutants override."""
        return ref_layers.get(layer_type)

    # ------------------------------------------------------------------------------------ metadata
    def dropout_layers(self) -> dict[str, tuple[Shape, float]]:
        """Dropout layers that need a keep-mask in training: name -> (per-sample shape, rate)."""
        return {n.name: (n.shape, n.layer.rate) for n in self.graph.nodes  # type: ignore[attr-defined]
                if n.type == "dropout" and n.layer.rate > 0}  # type: ignore[attr-defined]

    @property
    def tape(self) -> list[tuple[Node, Any]]:
        """(node, forward cache) of the last forward, in execution order: what `backward` differentiates,
        and what reference/error_bounds.py runs the magnitude pass on."""
        return [(s.node, s.cache) for s in self._tape]

    # ------------------------------------------------------------------------------------- forward
    def forward(self, inputs: np.ndarray | Arrays, params: Arrays, buffers: Arrays | None = None, *,
                training: bool = False, masks: Arrays | None = None) -> np.ndarray | list[np.ndarray]:
        """The model output(s) for a batch: one array, or a list in `outputs` order for several outputs.

        In training, batch-norm buffers are updated in place and every dropout layer needs its keep-mask
        in `masks` (layer name -> bool array with the batch axis first).
        """
        values = self.forward_with_intermediates(inputs, params, buffers, training=training, masks=masks)
        outs = [values[name] if name in values else self._inputs[name] for name in self.output_names]
        return outs[0] if len(outs) == 1 else outs

    def forward_with_intermediates(self, inputs: np.ndarray | Arrays, params: Arrays, buffers: Arrays | None = None,
                                   *, training: bool = False, masks: Arrays | None = None) -> Arrays:
        """Every layer's output by layer name, in execution order (to find the first layer that diverges)."""
        values = self._prepare_inputs(inputs)
        self._inputs = dict(values)
        buffers = {} if buffers is None else buffers
        masks = {} if masks is None else masks
        unknown = sorted(set(masks) - set(self.layer_names))
        if unknown:
            raise KeyError(f"dropout masks for unknown layers: {', '.join(unknown)}")
        self._tape = []
        outputs: Arrays = {}
        for node in self.graph.nodes:
            p = {short: _float64(_lookup(params, full, "parameter"))
                 for short, full in self._param_names[node.name].items()}
            b = {short: _lookup(buffers, full, "buffer") for short, full in self._buffer_names[node.name].items()}
            ctx = ForwardContext(training=training, buffers=b, dropout_mask=masks.get(node.name))
            y, cache = self.layer_module(node.type).forward(node.layer, [values[i] for i in node.inputs], p, ctx)
            values[node.name] = outputs[node.name] = y
            self._tape.append(_Step(node, cache))
        self.last_values = outputs
        return outputs

    def _prepare_inputs(self, inputs: np.ndarray | Arrays) -> Arrays:
        if not isinstance(inputs, dict):
            if len(self.input_names) != 1:
                raise ValueError(f"this model has inputs {self.input_names}: pass a dict of arrays")
            inputs = {self.input_names[0]: inputs}
        missing = [k for k in self.input_names if k not in inputs]
        if missing:
            raise KeyError(f"missing model inputs: {', '.join(missing)}")
        values: Arrays = {}
        batch = None
        for name in self.input_names:
            x = np.asarray(inputs[name])
            want = self.graph.input_shapes[name]
            if x.ndim != len(want) + 1 or x.shape[1:] != want:
                raise ValueError(f"input `{name}` has shape {list(x.shape)}; the model takes "
                                 f"[{', '.join(['batch', *map(str, want)])}]")
            if batch is not None and x.shape[0] != batch:
                raise ValueError(f"inputs disagree on the batch size: {batch} and {x.shape[0]} (`{name}`)")
            batch = x.shape[0]
            values[name] = x if self.graph.input_dtypes[name] == "int64" else _float64(x)
        return values

    # ------------------------------------------------------------------------------------ backward
    def backward(self, grad_output: np.ndarray | list[np.ndarray]) -> Arrays:
        """d loss / d parameter (canonical names, `param_specs` order) for the last forward, given
        d loss / d output (a list in `outputs` order for several outputs). Also sets `input_gradients`."""
        if not self._tape:
            raise RuntimeError("backward needs a forward first")
        grad_outs = grad_output if isinstance(grad_output, list | tuple) else [grad_output]
        if len(grad_outs) != len(self.output_names):
            raise ValueError(f"the model has {len(self.output_names)} outputs, got {len(grad_outs)} gradients")
        pending: Arrays = {}  # d loss / d value, summed over every consumer seen so far
        for name, g in zip(self.output_names, grad_outs, strict=True):
            _accumulate(pending, name, np.asarray(g, dtype=np.float64))
        grads: Arrays = {}
        self.output_gradients = {}
        for step in reversed(self._tape):  # reverse topological order: every consumer is done first
            node = step.node
            g = pending.pop(node.name, None)
            if g is None:  # cannot happen in a validated graph (every node feeds an output)
                continue
            self.output_gradients[node.name] = g
            d_inputs, d_params = self.layer_module(node.type).backward(node.layer, g, step.cache)
            for short, d in d_params.items():  # a tied parameter gathers the gradients of every use
                _accumulate(grads, self._param_names[node.name][short], d)
            for src, d in zip(node.inputs, d_inputs, strict=True):
                if d is not None:
                    _accumulate(pending, src, d)
        self.input_gradients = {name: pending.get(name) for name in self.input_names}
        return {name: grads.get(name, np.zeros(spec.shape)) for name, spec in self.param_specs.items()}


def _accumulate(pending: Arrays, name: str, g: np.ndarray) -> None:
    pending[name] = pending[name] + g if name in pending else g


def _lookup(arrays: Arrays, name: str, what: str) -> np.ndarray:
    try:
        return arrays[name]
    except KeyError:
        raise KeyError(f"missing {what} `{name}`") from None


def _float64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)  # no copy when it already is
