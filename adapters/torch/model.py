"""A spec Model as one torch module: an nn.Sequential for a sequence, a `GraphModule` for a graph.

Node names, order and shapes come from `spec.graph.build_graph` (shared with the validator and the
reference). A sequence becomes a plain nn.Sequential of the layers' native modules, so the forward pass
is exactly what a hand-written model runs. Parameters are reached through `Slot`s, never by torch's own
parameter names, so the torch module's structure can change without touching canonical names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lockstep.adapters.base import UnsupportedConstruct
from lockstep.adapters.torch import layers
from lockstep.adapters.torch.layers._base import Slot
from lockstep.adapters.torch.layers.dropout import StandardDropout
from lockstep.spec.documents import Model
from lockstep.spec.graph import ModelGraph, build_graph


class GraphModule(nn.Module):
    """Runs the nodes in the standard's topological order; each node reads earlier values by index.

    A value is dropped after its last reader so an eval forward holds no more activations than needed."""

    def __init__(self, graph: ModelGraph, modules: list[nn.Module]) -> None:
        super().__init__()
        self.nodes = nn.ModuleList(modules)
        index = {name: i for i, name in enumerate(graph.input_shapes)}
        for i, node in enumerate(graph.nodes):
            index[node.name] = len(graph.input_shapes) + i
        self.plan = [tuple(index[s] for s in node.inputs) for node in graph.nodes]
        self.outputs = [index[o] for o in graph.outputs]
        last = {}
        for i, srcs in enumerate(self.plan):
            for s in srcs:
                last[s] = i
        keep = set(self.outputs)
        self.release = [tuple(s for s, at in last.items() if at == i and s not in keep) for i in range(len(self.plan))]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        values: list[torch.Tensor | None] = [*inputs, *([None] * len(self.plan))]
        base = len(inputs)
        for i, (module, srcs, done) in enumerate(zip(self.nodes, self.plan, self.release, strict=True)):
            values[base + i] = module(*[values[s] for s in srcs])
            for s in done:
                values[s] = None
        outs = [values[o] for o in self.outputs]
        return outs[0] if len(outs) == 1 else outs  # type: ignore[return-value]


@dataclass
class TorchModel:
    """The torch module of a Model and the map from canonical names to its tensors."""

    graph: ModelGraph
    net: nn.Module
    slots: dict[str, Slot]
    buffer_slots: dict[str, Slot]
    dropouts: dict[str, StandardDropout] = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        return list(self.graph.input_shapes)


def build_model(model: Model, dtype: torch.dtype, device: torch.device) -> TorchModel:
    """Native modules for every node on `device`, built without touching torch's global RNG (initial
    values come from the standard, set through the slots afterwards)."""
    graph = build_graph(model)
    if graph.problems:
        raise UnsupportedConstruct("model", "; ".join(p.message for p in graph.problems))
    with torch.random.fork_rng(devices=[]):
        modules = [layers.get(n.type).build(n.layer, n.input_shapes, dtype).to(device) for n in graph.nodes]
    slots: dict[str, Slot] = {}
    buffer_slots: dict[str, Slot] = {}
    dropouts: dict[str, StandardDropout] = {}
    built = {n.name: m for n, m in zip(graph.nodes, modules, strict=True)}
    for node, module in zip(graph.nodes, modules, strict=True):
        mapping = layers.get(node.type)
        ties = node.layer.ties()  # parameters owned by another layer: shared, reached through the owner's slot
        for short, (owner, owned) in ties.items():
            mapping.tie(module, short, built[owner], owned)
        if hasattr(mapping, "slots"):
            slots.update({f"{node.name}.{k}": s for k, s in mapping.slots(module).items() if k not in ties})
        if hasattr(mapping, "buffer_slots"):
            buffer_slots.update({f"{node.name}.{k}": s for k, s in mapping.buffer_slots(module).items()})
        if isinstance(module, StandardDropout):
            dropouts[node.name] = module
    expected = {k: tuple(s.shape) for k, s in {**graph.parameters(), **graph.buffers()}.items()}
    found = {k: tuple(s.view().shape) for k, s in {**slots, **buffer_slots}.items()}
    if found != expected:  # a mapping bug, not a user error: fail loudly at build time
        raise AssertionError(f"torch slots {found} do not match the canonical parameters {expected}")
    sequential = model.layers is not None and all(n.layer.arity == 1 for n in graph.nodes)
    net = nn.Sequential(*modules) if sequential else GraphModule(graph, modules)
    return TorchModel(graph, net, slots, buffer_slots, dropouts)
