"""batch_norm `momentum` passed straight to a framework with Keras's convention: keras.layers.BatchNormalization
(Keras 2 and 3) keeps `running ← m·running + (1 − m)·batch`, m weighing the *old* statistic, where the
standard and torch.nn.BatchNorm weigh the new one, `running ← (1 − m)·running + m·batch`
(docs/spec/v1-semantics.md, divergence 5). An adapter must pass `1 − m`; this one passes m.

Identical at m = 0.5; the running statistics only move in training, so level 2 (the buffers after one
training batch) sees it, and level 1 would after any training step. The unbiased running variance is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.conformance.mutants._base import MutantAdapter, rewrite_layers

if TYPE_CHECKING:
    from lockstep.spec.documents import Model
    from lockstep.spec.graph import Node
    from lockstep.spec.layers import LayerBase


def _keras_momentum(node: Node) -> LayerBase | None:
    if node.type != "batch_norm":
        return None
    return node.layer.model_copy(update={"momentum": 1.0 - node.layer.momentum})  # the bug, seen from torch's side


class BatchNormMomentumAdapter(MutantAdapter):
    """batch_norm with Keras's momentum convention."""

    name = "mutant-batch_norm_momentum"

    def rewrite_model(self, model: Model) -> Model:
        return rewrite_layers(model, _keras_momentum)
