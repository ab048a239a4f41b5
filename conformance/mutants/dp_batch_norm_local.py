"""Data parallelism: batch-norm statistics over each replica's shard although the recipe asks for `sync` (the
global batch): DDP with plain BatchNorm layers, the default of every framework. Identical without batch norm
or with one replica."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.conformance.mutants._base import MutantAdapter

if TYPE_CHECKING:
    from lockstep.adapters.base import Session
    from lockstep.spec.documents import Model, Recipe


class _Session(DataParallelReferenceSession):
    def statistics(self) -> str:
        return "local"  # the bug: `sync` is ignored


class DPBatchNormLocalAdapter(MutantAdapter):
    """Batch norm per replica when `sync` was asked."""

    name = "mutant-dp_batch_norm_local"

    def data_parallel(self, model: Model, *, dtype: str, device: str, recipe: Recipe, replicas: int,
                      batch_norm: str | None, driver: bool = False) -> Session:
        self.build(model, dtype=dtype, device=device)  # the reference's device and dtype errors
        return _Session(model, recipe, dtype, replicas=replicas, batch_norm=batch_norm)
