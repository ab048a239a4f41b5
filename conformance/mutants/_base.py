"""What every mutant is built from: the reference adapter with one seam opened where a bug is planted.

A mutant must differ from the reference in exactly its planted bug, so nothing here re-derives any math:
`MutantSession` is `ReferenceSession`, whose training step is split at the four places framework bugs live
(the loss, the learning rate of a step, the gradient clipping, one parameter's optimizer rule), each the
reference's own function;
`MutantAdapter` builds it, optionally from a rewritten model (how an adapter that passes a wrong argument
to a native layer behaves). A mutant overrides one of these and nothing else; the suite's
test certifies the unmodified `MutantAdapter` to show that the seams themselves change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lockstep.adapters.base import Arrays, Session
from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe
    from lockstep.spec.graph import Node


class MutantSession(ReferenceSession):
    """`ReferenceSession` as it is: its loss (`compute_loss`), learning rate (`learning_rate`), clipping
    (`clip_gradients`) and per-parameter optimizer rule (`optimizer_step`) are the seams a mutant overrides
    (adapters/reference.py)."""


class MutantAdapter(ReferenceAdapter):
    """The reference adapter building a `session_class` session, from `rewrite_model(model)`.

    Subclasses set `name` ("mutant-<name>") and either `session_class` or `rewrite_model`."""

    name: ClassVar[str] = "mutant-none"
    session_class: ClassVar[type[ReferenceSession]] = MutantSession

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "mutant": self.name}

    def rewrite_model(self, model: Model) -> Model:
        """The model the mutant's session runs (the adapter's translation of the spec); default: unchanged."""
        return model

    def build(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None) -> Session:
        super().build(model, dtype=dtype, device=device, recipe=recipe)  # the reference's device/dtype errors
        return self.session_class(self.rewrite_model(model), recipe, dtype)  # float32: the reference's range rule


def layer_session(layer_type: str, *, forward: Callable[..., Any] | None = None,
                  backward: Callable[..., Any] | None = None) -> type[MutantSession]:
    """A MutantSession whose model runs `layer_type` with the given forward and/or backward, the reference's own
    for the rest: how a mutant plants a bug in one layer's math (relu's kink, a max-pool tie, a derivative)."""
    import importlib
    from types import SimpleNamespace

    from lockstep.reference.model import ReferenceModel

    own = importlib.import_module(f"lockstep.reference.layers.{layer_type}")
    module = SimpleNamespace(forward=forward or own.forward, backward=backward or own.backward)

    class _Model(ReferenceModel):
        def layer_module(self, kind: str) -> Any:
            return module if kind == layer_type else super().layer_module(kind)

    class _Session(MutantSession):
        def __init__(self, model: Any, recipe: Any = None, dtype: str = "float64") -> None:
            super().__init__(model, recipe, dtype)
            self.net = _Model(model)

    _Session.__name__ = _Session.__qualname__ = f"{layer_type.title().replace('_', '')}MutantSession"
    return _Session


def rewrite_layers(model: Model, change: Callable[[Node], Any]) -> Model:
    """A copy of `model` in which every layer for which `change(node)` returns a layer is replaced by it.

    `change` gets the graph node (layer, per-sample input shapes, name) and returns a new layer or None.
    The copy is not re-validated: a mutant may pass a value the standard forbids (as a buggy adapter would)."""
    from lockstep.spec.graph import build_graph

    graph = build_graph(model)
    section = "layers" if model.layers is not None else "nodes"
    layers = list(getattr(model, section))
    for node in graph.nodes:
        replacement = change(node)
        if replacement is not None:
            layers[node.index] = replacement
    return model.model_copy(update={section: layers})


def adam_moments(opt: Any, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The standard's Adam(W) step up to the update: (param after AdamW's decoupled decay, m, v with the
    amsgrad maximum applied), the moments updated in `state`. The Adam mutants differ only after this."""
    if opt.type == "adamw":
        param = param * (1.0 - lr * opt.weight_decay)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m[...] = opt.beta1 * m + (1.0 - opt.beta1) * grad
    v[...] = opt.beta2 * v + (1.0 - opt.beta2) * grad * grad
    if opt.amsgrad:
        np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        v = state["max_exp_avg_sq"]
    return param, m, v
