"""`mean` reduction that divides the summed loss by the batch size N only, not by the number of loss values:
torch's `KLDivLoss(reduction="batchmean")`, and every hand-written `loss_fn(reduction="sum")(y, t) / len(x)`.

For a per-element loss on [N, D] outputs the result is D times the standard's mean; for a class loss on
[N, T, C] it is T times (the standard averages over every element, or every position of class losses:
docs/spec/v1-semantics.md, divergence 13). Identical where each sample has one loss value, so only cases
with several outputs per sample, or an extra sequence axis, can see it.
"""

from __future__ import annotations

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.reference import losses


class _Session(MutantSession):
    def compute_loss(self, loss, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        if loss.reduction != "mean":
            return super().compute_loss(loss, prediction, target)
        total, grad = losses.compute(loss.model_copy(update={"reduction": "sum"}), prediction, target)
        n = len(prediction)
        return total / n, grad / n  # the bug: mean over the batch axis only


class LossReductionAdapter(MutantAdapter):
    """Losses whose `mean` divides by the batch size only."""

    name = "mutant-loss_reduction"
    session_class = _Session
