"""Categorical cross-entropy from logits differentiated as `softmax(y) − t`: right only where a target row sums
to 1. The loss is the standard's `−Σ t log softmax(y)` for any targets; its gradient is `softmax(y)·Σt − t`
(docs/spec/v1-semantics.md § Losses: targets are never renormalized).

It is what TensorFlow's softmax cross-entropy op (under Keras's CategoricalCrossentropy from logits) does, which
Lockstep's TensorFlow adapter passed on until a sweep found it (docs/conformance.md, "Found in real frameworks";
docs/reproducers/keras-soft-target-gradient). Invisible while targets are one-hot or Dirichlet draws: the
`unnormalized` edge class (conformance/edges.py) draws rows that do not sum to 1.
"""

from __future__ import annotations

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.reference import losses
from lockstep.reference.losses._common import log_softmax, reduce, smooth


class _Session(MutantSession):
    def compute_loss(self, loss, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        if loss.type != "categorical_crossentropy" or not loss.from_logits:
            return super().compute_loss(loss, prediction, target)
        value, _ = losses.compute(loss, prediction, target)
        t = smooth(np.asarray(target, dtype=np.float64), loss.label_smoothing, prediction.shape[-1])
        _, scale = reduce(np.zeros(prediction.shape[:-1]), loss.reduction)
        return value, (np.exp(log_softmax(prediction)) - t) * scale  # the bug: Σt taken as 1


class SoftTargetGradientAdapter(MutantAdapter):
    """Categorical cross-entropy from logits with TensorFlow's gradient softmax(y) − t."""

    name = "mutant-soft_target_gradient"
    session_class = _Session
