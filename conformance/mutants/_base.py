"""What every mutant is built from: the reference adapter with one seam opened where a bug is planted.

A mutant must differ from the reference in exactly its planted bug, so nothing here re-derives any math:
`MutantSession` is `ReferenceSession` with its training step split at the three places framework bugs live
(the loss, the learning rate of a step, one parameter's optimizer rule), each defaulting to the reference's
own function; `MutantAdapter` builds it, optionally from a rewritten model (how an adapter that passes a
wrong argument to a native layer behaves). A mutant overrides one of these and nothing else; the suite's
test certifies the unmodified `MutantAdapter` to show that the seams themselves change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lockstep.adapters.base import Arrays, NonFiniteError, Session, StepResult
from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession
from lockstep.reference import clipping, losses, optimizers, schedules

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe
    from lockstep.spec.graph import Node


class MutantSession(ReferenceSession):
    """`ReferenceSession` whose loss, learning rate and per-parameter optimizer rule are overridable methods.

    `train_step` is the reference's, statement for statement (adapters/reference.py), with the
    `optimizers.apply` loop inlined so that one parameter's rule can be replaced."""

    def compute_loss(self, loss: Any, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        """The reduced loss and d loss / d prediction (the reference's `losses.compute`)."""
        return losses.compute(loss, prediction, target)

    def learning_rate(self, t: int) -> float:
        """The learning rate of 0-based optimizer step `t` (the reference's schedule)."""
        r = self._recipe()
        return schedules.learning_rate(r.schedule, r.optimizer.learning_rate, t)

    def optimizer_step(self, opt: Any, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        """One parameter's update at 1-based step `t` (the reference's rule for `opt.type`)."""
        return optimizers.get(opt.type).step(opt, param, grad, state, lr, t)

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self.net.forward(x, self.params, self.buffers, training=True, masks=masks)
            value, g = self.compute_loss(self._recipe().loss, out, y)
            return value, self.net.backward(g)

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        r = self._recipe()
        saved = {k: v.copy() for k, v in self.buffers.items()}
        value, grads = self.loss_and_gradients(x, y, masks=masks)
        bad = "loss" if not np.isfinite(value) else next(
            (f"gradient of {k}" for k, g in grads.items() if not np.all(np.isfinite(g))), None)
        if bad is not None:
            self.buffers = saved
            raise NonFiniteError(bad)
        grads, norm = clipping.clip(grads, r.gradient_clipping)
        lr = self.learning_rate(self.step)
        self.step += 1
        l2 = r.regularization.l2
        new: Arrays = {}
        for name, w in self.params.items():  # optimizers.apply, one parameter at a time
            g = np.asarray(grads[name], dtype=np.float64)
            if l2:
                g = g + l2 * w
            new[name] = self.optimizer_step(r.optimizer, name, w, g, self.states[name], lr, self.step)
        self.params = new
        return StepResult(value, lr, norm)


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
        return self.session_class(self.rewrite_model(model), recipe)


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
