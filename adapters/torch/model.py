"""A spec Model as one torch nn.Module: nodes in the standard's order (spec.graph), native layers."""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch import layers
from lockstep.adapters.torch.layers._base import Slot
from lockstep.spec.graph import build_graph


class TorchModel(nn.Module):
    def __init__(self, model, dtype: torch.dtype) -> None:
        super().__init__()
        self.graph = build_graph(model)
        if self.graph.problems:
            raise ValueError("; ".join(p.message for p in self.graph.problems))
        self.nodes = [(n.name, n.inputs) for n in self.graph.nodes]
        self.input_names = list(self.graph.input_shapes)
        self.outputs = list(self.graph.outputs)
        self.layers = nn.ModuleDict({n.name: layers.get(n.type).build(n.layer, n.input_shapes, dtype)
                                     for n in self.graph.nodes})

    def forward(self, inputs: dict[str, torch.Tensor], masks: dict[str, torch.Tensor] | None = None):
        values = dict(inputs)
        for name, srcs in self.nodes:
            values[name] = self.layers[name]([values[s] for s in srcs], masks.get(name) if masks else None)
        outs = [values[o] for o in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    def slots(self) -> dict[str, Slot]:
        return {f"{name}.{k}": s for name, layer in self.layers.items() for k, s in layer.slots().items()}

    def buffer_slots(self) -> dict[str, Slot]:
        return {f"{name}.{k}": s for name, layer in self.layers.items() for k, s in layer.buffer_slots().items()}
