"""Level 1, predictions: the eval-mode forward output of the first batch, from identical parameters."""

from __future__ import annotations

from lockstep.adapters.checked import forward_answer
from lockstep.conformance.checks import Check, check
from lockstep.conformance.levels._pair import Pair, handed
from lockstep.conformance.tolerance import output_rule

NAME = "predictions"


def checks(pair: Pair) -> list[Check]:
    pair.start()
    x, _, _ = pair.batch(0)
    expected = pair.reference.forward(x, training=False)
    got = forward_answer(pair.actual.forward(handed(x), training=False))
    rule = output_rule(pair.model, pair.prep.initial, x, expected, pair.dtype)
    return [check("output", got, expected, rule)]
