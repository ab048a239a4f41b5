"""Recurrent weights copied into a framework whose gate blocks are in another order, without reordering.

Parameters, gradients and optimizer state stay canonical (the adapter's copy in and out is the identity,
so everything round-trips and nothing looks wrong); only the framework's cell reads gate X from *its*
slot for X. `GateOrderNet` wraps the reference model so that its math sees, for each gate X in the
canonical order, the canonical block at the framework's index of X, and hands the gradients back the
same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.adapters.base import Arrays

RECURRENT_PARAMS = ("weight_ih", "weight_hh", "bias", "bias_ih", "bias_hh")


class GateOrderNet:
    """A ReferenceModel whose `layer_type` layers read their gate blocks in `framework_order`."""

    def __init__(self, net: Any, layer_type: str, canonical_order: str, framework_order: str) -> None:
        self.net = net
        # the reference's block j (gate canonical_order[j]) is read from canonical block perm[j]
        self.perm = [framework_order.index(gate) for gate in canonical_order]
        self.units = {f"{n.name}.{p}": n.layer.units for n in net.graph.nodes if n.type == layer_type
                      for p in RECURRENT_PARAMS if f"{n.name}.{p}" in net.param_specs}

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.net, attr)

    def _blocks(self, a: np.ndarray, h: int, order: list[int]) -> np.ndarray:
        return np.concatenate([a[..., i * h:(i + 1) * h] for i in order], axis=-1)

    def _read(self, params: Arrays) -> Arrays:
        return {k: self._blocks(v, self.units[k], self.perm) if k in self.units else v for k, v in params.items()}

    def forward(self, x: Any, params: Arrays, buffers: Arrays | None = None, **kw: Any) -> Any:
        return self.net.forward(x, self._read(params), buffers, **kw)

    def backward(self, grad_output: Any) -> Arrays:
        inverse = list(np.argsort(self.perm))
        grads = self.net.backward(grad_output)
        return {k: self._blocks(g, self.units[k], inverse) if k in self.units else g for k, g in grads.items()}
