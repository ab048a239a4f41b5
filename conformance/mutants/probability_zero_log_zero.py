"""Cross-entropy from probabilities written as it reads, `t·log p + (1 − t)·log(1 − p)` and `Σ t_c log p_c`,
with the derivative `−t/p + (1 − t)/(1 − p)`: no 0·log 0 rule, so a term of weight 0 at p = 0 or 1 (a saturated
sigmoid or softmax) is 0·(−∞) = NaN and the step fails.

It is what Lockstep's own torch and TensorFlow adapters did until the audit of issue 13 (docs/conformance.md,
"Found in real frameworks"), and what any hand-written `-(t * torch.log(p)).sum()` does. The standard makes
such a term 0 in value and derivative (docs/spec/v1-semantics.md § Losses). Invisible unless a probability is
exactly 0 or 1 under a zero weight: the `saturated` edge class (conformance/edges.py) puts it there.
"""

from __future__ import annotations

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.reference.losses._common import class_indices, element_target, one_hot, reduce, smooth

PROBABILITY_LOSSES = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


class _Session(MutantSession):
    def compute_loss(self, loss, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        if loss.type not in PROBABILITY_LOSSES or loss.from_logits:
            return super().compute_loss(loss, prediction, target)
        p = prediction
        with np.errstate(all="ignore"):  # the bug: 0 · log 0 and 0 / 0 as IEEE computes them (NaN)
            if loss.type == "binary_crossentropy":
                t = smooth(element_target(p, target), loss.label_smoothing, 2)
                per = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))
                grad = -t / p + (1.0 - t) / (1.0 - p)
            else:
                classes = p.shape[-1]
                t = one_hot(class_indices(p, target), classes) if loss.type == PROBABILITY_LOSSES[2] \
                    else np.asarray(target, dtype=np.float64)
                t = smooth(t, loss.label_smoothing, classes)
                per = -np.sum(t * np.log(p), axis=-1)
                grad = -t / p
            value, scale = reduce(per, loss.reduction)
        return value, grad * scale


class ProbabilityZeroLogZeroAdapter(MutantAdapter):
    """Cross-entropies from probabilities without the 0·log 0 rule."""

    name = "mutant-probability_zero_log_zero"
    session_class = _Session
