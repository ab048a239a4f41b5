"""Level 4, recipes: the first steps of every example recipe (examples/*/recipe.yaml): the real data,
models and hyper-parameters users start from, compared as level 3 compares a generated case."""

from __future__ import annotations

from lockstep.conformance.checks import Check
from lockstep.conformance.levels import predictions, updates
from lockstep.conformance.levels._pair import Pair

NAME = "recipes"
STEPS = 5  # optimizer steps of each example compared (float32 parameters: the first 3, see updates)


def checks(pair: Pair, steps: int = STEPS) -> list[Check]:
    return [*predictions.checks(pair), *updates.checks(pair, steps)]
