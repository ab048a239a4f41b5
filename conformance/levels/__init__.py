"""The four conformance levels, one module each (TOSA's verifier keeps one file per compliance mode):

1. `predictions`: forward outputs in eval mode;
2. `gradients`: the loss and every parameter gradient of one training-mode batch (and the buffers that
   batch moves);
3. `updates`: loss, learning rate, parameters and optimizer state over k optimizer steps, schedules,
   clipping and regularization included;
4. `recipes`: short training trajectories of the example recipes (the same comparison as `updates`, on
   the real data, models and hyper-parameters users start from);
5. `data_parallel`: the adapter's data-parallel engine on 2 and 3 replicas against the reference's
   data-parallel semantics, step by step (asked for explicitly: it starts processes).

Each module has `checks(pair: Pair) -> list[Check]`: the comparisons of one prepared case, reference
against the adapter, under the tolerances of conformance/tolerance.py.
"""

from __future__ import annotations

from types import ModuleType

from lockstep.adapters.base import UnsupportedConstruct
from lockstep.conformance.checks import Check
from lockstep.conformance.levels import data_parallel, gradients, predictions, recipes, updates
from lockstep.conformance.levels._pair import Pair

MODULES: dict[int, ModuleType] = {1: predictions, 2: gradients, 3: updates, 4: recipes, 5: data_parallel}

__all__ = ["MODULES", "Pair", "run_levels"]


def run_levels(pair: Pair, levels: tuple[int, ...], *, reraise_unsupported: bool = True
               ) -> dict[int, list[Check] | Exception]:
    """Each level's comparisons of one pair; a level whose run raised (the adapter failed on a valid case)
    maps to the exception. UnsupportedConstruct propagates unless `reraise_unsupported` is False."""
    out: dict[int, list[Check] | Exception] = {}
    for level in levels:
        try:
            out[level] = MODULES[level].checks(pair)
        except Exception as exc:
            if reraise_unsupported and isinstance(exc, UnsupportedConstruct):
                raise
            out[level] = exc
    return out
