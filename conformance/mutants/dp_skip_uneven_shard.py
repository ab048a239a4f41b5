"""Data parallelism: in a batch that does not split evenly (the last batch of an epoch), the replica with the
smaller shard skips it (a sampler that drops a rank's incomplete tail, or a loop that stops a rank when its
shard is short), while the others weight their shards by the full batch. Its samples are never seen in that
epoch and the step's gradient misses them. Identical whenever every batch splits evenly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.conformance.mutants._base import MutantAdapter

if TYPE_CHECKING:
    from lockstep.adapters.base import Session
    from lockstep.spec.documents import Model, Recipe


class _Session(DataParallelReferenceSession):
    def shards(self, batch: int) -> list[tuple[int, int]]:
        bounds = super().shards(batch)
        if batch % self.replicas:  # the bug: the last (smaller) shard is dropped
            lo, _ = bounds[-1]
            bounds[-1] = (lo, lo)
        return bounds


class DPSkipUnevenShardAdapter(MutantAdapter):
    """The replica with the smaller shard of an uneven batch skips it."""

    name = "mutant-dp_skip_uneven_shard"

    def data_parallel(self, model: Model, *, dtype: str, device: str, recipe: Recipe, replicas: int,
                      batch_norm: str | None, driver: bool = False) -> Session:
        self.build(model, dtype=dtype, device=device)  # the reference's device and dtype errors
        return _Session(model, recipe, dtype, replicas=replicas, batch_norm=batch_norm)
