"""Data parallelism, the math (docs/spec/v1-semantics.md, "Data parallelism").

N replicas share a global batch of `n` samples; replica r holds the contiguous shard `[lo_r, hi_r)`
(`spec.distribution.shard_bounds`). Each computes its shard's loss `L_r` with the recipe's reduction, and
the global loss and gradient are

    L = Σ_r w_r L_r,   g = Σ_r w_r ∂L_r/∂w,   w_r = n_r / n (reduction `mean`),  w_r = 1 (`sum`)

which is exactly the one-process loss of the global batch: a `mean` over the batch is the shard means
weighted by their shares (the number of loss values per sample is the same in every shard), a `sum` is
the sum of shard sums. Engines that average gradients over replicas (DDP, Keras's all-reduce) reach it by
scaling each replica's loss (`N w_r` for an average, `w_r` for a sum).

Dropout keep-masks are drawn for the global batch (stream ("dropout", layer, step), shape [n, ...]) and
replica r uses rows `[lo_r, hi_r)`: a mask belongs to a sample, never to a replica, so it does not depend on N.
Batch norm in training is computed over the global batch (`sync`, what one process does) or over each
replica's shard (`local`): then replica r normalizes with its own μ_r, σ²_r, and the running statistics
after the step are the replicas' own updates averaged uniformly:

    running ← (1/N) Σ_r [(1 − ρ) running + ρ s_r]  =  (1 − ρ) running + ρ · mean_r s_r

with s_r the replica's batch mean, or its unbiased variance σ²_r m_r/(m_r − 1) (m_r its values per channel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lockstep.spec.distribution import shard_bounds

Arrays = dict[str, np.ndarray]

__all__ = ["mean_buffers", "shard_bounds", "shard_weights", "take"]


def shard_weights(sizes: Sequence[int], total: int, reduction: str) -> list[float]:
    """Each replica's weight in the global loss: its share `n_r / total` for `mean`, 1 for `sum`."""
    if reduction == "sum":
        return [1.0 for _ in sizes]
    return [size / total for size in sizes]


def take(x: np.ndarray | Arrays, lo: int, hi: int) -> np.ndarray | Arrays:
    """Rows `[lo, hi)` of a batch (an array, or a dict of arrays for a model with several inputs)."""
    return {k: v[lo:hi] for k, v in x.items()} if isinstance(x, dict) else x[lo:hi]


def mean_buffers(updates: Sequence[Arrays]) -> Arrays:
    """The replicas' running statistics after a `local` step, averaged uniformly (every replica counts once)."""
    return {k: sum(u[k] for u in updates) / len(updates) for k in updates[0]}
