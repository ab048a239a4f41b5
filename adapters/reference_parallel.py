"""The reference's data-parallel semantics for any replica count, in one process: the oracle of the engines.

`DataParallelReferenceSession` is `ReferenceSession` whose loss and gradients are those of N replicas
(reference/data_parallel.py): `train_step` then clips, regularizes and updates exactly as one process does,
on the global gradient every replica holds after its all-reduce. With one replica it *is* the one-process
session, bit for bit. With N > 1:
- `sync` batch norm, or none: the one-process step of the global batch, computed as one process computes
  it, so the oracle is bit for bit the same for every N (a session whose seams are overridden computes one
  forward of the global batch, each shard's loss weighted by its share, and one backward);
- `local` batch norm: each shard runs forward and backward on its own, from the same running statistics,
  which are then averaged over the replicas.

The seams where real data-parallel bugs live are methods (`shards`, `shard_weights`, `shard_masks`,
`statistics`), each the standard's rule; the conformance mutants override one each
(conformance/mutants/dp_*.py). `last_shards` records the `[lo, hi)` of the global batch each replica
consumed at the last step, so the suite can check that every sample of an epoch is seen exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.adapters.reference import ReferenceSession
from lockstep.reference import data_parallel as dp
from lockstep.reference.representable import loss_to_range, to_range

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe


class DataParallelReferenceSession(ReferenceSession):
    """`replicas` replicas of one model in float64 NumPy, in one process (docs/spec/v1-semantics.md)."""

    def __init__(self, model: Model, recipe: Recipe | None = None, dtype: str = "float64", *, replicas: int = 1,
                 batch_norm: str | None = None) -> None:
        super().__init__(model, recipe, dtype)
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {replicas}")
        self.replicas = int(replicas)
        self.batch_norm = batch_norm
        self.has_batch_norm = any(n.type == "batch_norm" for n in self.net.graph.nodes)
        self.distribution = {"strategy": "data_parallel", "replicas": self.replicas, "batch_norm": batch_norm}
        self._last: list[tuple[int, int]] = []

    # ----------------------------------------------------------------------- seams (the standard's rules)
    def shards(self, batch: int) -> list[tuple[int, int]]:
        """`[lo, hi)` of each replica's shard of a global batch (spec/distribution.py)."""
        return dp.shard_bounds(batch, self.replicas)

    def shard_weights(self, sizes: list[int], total: int, reduction: str) -> list[float]:
        """Each shard's weight in the global loss and gradient (`n_r / n` for mean, 1 for sum)."""
        return dp.shard_weights(sizes, total, reduction)

    def shard_masks(self, masks: Arrays | None, rank: int, lo: int, hi: int) -> Arrays | None:
        """Replica `rank`'s dropout keep-masks: rows `[lo, hi)` of the global batch's."""
        return None if masks is None else {k: v[lo:hi] for k, v in masks.items()}

    def statistics(self) -> str:
        """What batch-norm statistics are over in training: `local` (each shard) or `sync` (the global batch)."""
        return "local" if self.batch_norm == "local" else "sync"

    def _one_process(self) -> bool:
        """Whether the seams are the standard's (not a mutant's): then a step without local batch-norm statistics
        is the one-process step mathematically, and the oracle computes it exactly so, bit for bit, for any N."""
        cls = type(self)
        return all(getattr(cls, seam) is getattr(DataParallelReferenceSession, seam)
                   for seam in ("shards", "shard_weights", "shard_masks"))

    # ------------------------------------------------------------------------------------- the step
    def last_shards(self) -> list[tuple[int, int]]:
        """The `[lo, hi)` of the last global batch each replica consumed, in rank order."""
        return list(self._last)

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        n = len(y)
        if self.replicas == 1 or (self._one_process() and not (self.has_batch_norm and self.statistics() == "local")):
            self._last = self.shards(n) if self.replicas > 1 else [(0, n)]
            return super().loss_and_gradients(x, y, masks=masks)  # the same math: computed as one process does
        bounds = self.shards(n)
        self._last = list(bounds)
        loss = self._recipe().loss
        weights = self.shard_weights([hi - lo for lo, hi in bounds], n, loss.reduction)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite values are reported
            if self.has_batch_norm and self.statistics() == "local":
                value, grads = self._local(x, y, masks, bounds, weights)
            else:
                value, grads = self._global(x, y, masks, bounds, weights)
            if self.bound is None:
                return value, grads
            shape = (n, *self.net.graph.output_shapes()[0])
            value = loss_to_range(loss.type, loss.reduction, value, shape, self.bound)
            return value, {k: to_range(v, self.bound) for k, v in grads.items()}

    def _global(self, x, y, masks, bounds, weights) -> tuple[float, Arrays]:
        """One forward of the whole batch (masks assembled from the replicas'), the shards' weighted losses."""
        if masks is not None:
            parts = [self.shard_masks(masks, r, lo, hi) for r, (lo, hi) in enumerate(bounds)]
            masks = {k: np.concatenate([p[k] for p in parts]) for k in masks}  # type: ignore[index]
        out = to_range(self.net.forward(x, self.params, self.buffers, training=True, masks=masks), self.bound)
        value, grad = 0.0, np.zeros_like(out)
        for (lo, hi), w in zip(bounds, weights, strict=True):
            if hi > lo:
                v, g = self.compute_loss(self._recipe().loss, out[lo:hi], y[lo:hi])
                value += w * v
                grad[lo:hi] = w * g
        return value, self.net.backward(grad)

    def _local(self, x, y, masks, bounds, weights) -> tuple[float, Arrays]:
        """Each shard forward and backward on its own statistics; running statistics averaged over replicas."""
        value = 0.0
        grads: Arrays = {k: np.zeros(s.shape) for k, s in self.net.param_specs.items()}
        updated: list[Arrays] = []
        for rank, ((lo, hi), w) in enumerate(zip(bounds, weights, strict=True)):
            if hi <= lo:
                continue
            buffers = {k: v.copy() for k, v in self.buffers.items()}
            out = to_range(self.net.forward(dp.take(x, lo, hi), self.params, buffers, training=True,
                                            masks=self.shard_masks(masks, rank, lo, hi)), self.bound)
            v, g = self.compute_loss(self._recipe().loss, out, y[lo:hi])
            value += w * v
            for k, d in self.net.backward(g).items():
                grads[k] += w * d
            updated.append(buffers)
        if updated:
            self.buffers = dp.mean_buffers(updated)
        return value, grads
