"""Data parallelism: gradients summed over the replicas instead of averaged (an all-reduce with SUM and no division
by the world size: a hand-rolled loop, or DDP with a comm hook that forgets to divide). With N replicas the
gradient and the reported loss are N times the global batch's; identical with one replica, so only a run on 2
or more replicas (level 5) sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.adapters.reference_parallel import DataParallelReferenceSession
from lockstep.conformance.mutants._base import MutantAdapter

if TYPE_CHECKING:
    from lockstep.adapters.base import Session
    from lockstep.spec.documents import Model, Recipe


class _Session(DataParallelReferenceSession):
    def shard_weights(self, sizes: list[int], total: int, reduction: str) -> list[float]:
        return [self.replicas * w for w in super().shard_weights(sizes, total, reduction)]  # the bug


class DPGradientSumAdapter(MutantAdapter):
    """Data-parallel gradients summed over the replicas, not averaged."""

    name = "mutant-dp_gradient_sum"

    def data_parallel(self, model: Model, *, dtype: str, device: str, recipe: Recipe, replicas: int,
                      batch_norm: str | None, driver: bool = False) -> Session:
        self.build(model, dtype=dtype, device=device)  # the reference's device and dtype errors
        return _Session(model, recipe, dtype, replicas=replicas, batch_norm=batch_norm)
