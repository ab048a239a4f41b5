"""Data parallelism: batch-norm statistics synchronized over the global batch although the recipe asks for `local`
(each replica's own shard): an engine that converts every batch norm to SyncBatchNorm regardless. Identical
without batch norm or with one replica."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.conformance.mutants._base import MutantAdapter

if TYPE_CHECKING:
    from lockstep.adapters.base import Session
    from lockstep.spec.documents import Model, Recipe


class _Session(DataParallelReferenceSession):
    def statistics(self) -> str:
        return "sync"  # the bug: `local` is ignored


class DPBatchNormSyncedAdapter(MutantAdapter):
    """Batch norm synchronized when `local` was asked."""

    name = "mutant-dp_batch_norm_synced"

    def data_parallel(self, model: Model, *, dtype: str, device: str, recipe: Recipe, replicas: int,
                      batch_norm: str | None, driver: bool = False) -> Session:
        self.build(model, dtype=dtype, device=device)  # the reference's device and dtype errors
        return _Session(model, recipe, dtype, replicas=replicas, batch_norm=batch_norm)
