"""Label smoothing spread over the C − 1 *other* classes: the target keeps 1 − s and every other class gets
s/(C − 1), fairseq's `label_smoothed_cross_entropy` convention (`eps_i = eps / (V − 1)`).

The standard (and torch's CrossEntropyLoss(label_smoothing), Keras's CategoricalCrossentropy) mixes with
the uniform distribution over all C classes, `t(1 − s) + s/C`, so the target keeps 1 − s + s/C
(docs/spec/v1-semantics.md, divergence 12). Planted in categorical and sparse categorical cross-entropy.
"""

from __future__ import annotations

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.reference import losses
from lockstep.reference.losses._common import class_indices, one_hot
from lockstep.spec.losses import CategoricalCrossentropy

SMOOTHED = ("categorical_crossentropy", "sparse_categorical_crossentropy")


class _Session(MutantSession):
    def compute_loss(self, loss, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        s = getattr(loss, "label_smoothing", 0.0)
        if loss.type not in SMOOTHED or not s or prediction.shape[-1] < 2:
            return super().compute_loss(loss, prediction, target)
        classes = prediction.shape[-1]
        t = (one_hot(class_indices(prediction, target), classes) if loss.type == SMOOTHED[1]
             else np.asarray(target, dtype=np.float64))
        t = t * (1.0 - s) + s * (1.0 - t) / (classes - 1)  # the bug: s shared by the C − 1 other classes
        plain = CategoricalCrossentropy(type="categorical_crossentropy", from_logits=loss.from_logits,
                                        reduction=loss.reduction, label_smoothing=0.0)
        return losses.compute(plain, prediction, t)


class LabelSmoothingAdapter(MutantAdapter):
    """Categorical cross-entropies smoothing over C − 1 classes."""

    name = "mutant-label_smoothing"
    session_class = _Session
