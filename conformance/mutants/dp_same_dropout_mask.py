"""Data parallelism: every replica applies the same dropout mask, the first shard's rows of the global mask (what
happens when every rank seeds its dropout RNG alike, or draws a mask for its local batch from a stream that
does not know the rank). The standard's mask belongs to the sample: replica r uses rows [lo_r, hi_r). Identical
without dropout or with one replica."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.conformance.mutants._base import MutantAdapter

if TYPE_CHECKING:
    from lockstep.adapters.base import Session
    from lockstep.spec.documents import Model, Recipe


class _Session(DataParallelReferenceSession):
    def shard_masks(self, masks: Any, rank: int, lo: int, hi: int) -> Any:
        return super().shard_masks(masks, 0, 0, hi - lo)  # the bug: rank 0's rows for everyone


class DPSameDropoutMaskAdapter(MutantAdapter):
    """Every replica uses the first replica's dropout mask."""

    name = "mutant-dp_same_dropout_mask"

    def data_parallel(self, model: Model, *, dtype: str, device: str, recipe: Recipe, replicas: int,
                      batch_norm: str | None, driver: bool = False) -> Session:
        self.build(model, dtype=dtype, device=device)  # the reference's device and dtype errors
        return _Session(model, recipe, dtype, replicas=replicas, batch_norm=batch_norm)
