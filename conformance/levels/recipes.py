"""Level 4, recipes: every example recipe (examples/*/recipe.yaml) over its whole length, on the real data,
models and hyper-parameters users start from: the eval output of the first batch from the initial weights,
then every training step judged re-synchronized (conformance/resync.py, the judgement of `lockstep compare`):
the adapter starts each step from the reference's exact state after the step before and runs one native
step, whose loss, learning rate, parameters, buffers, optimizer state and step count must agree with the
reference's step under the one-step rules. Nothing carries over between steps, so the whole run is judged
without the first-order bounds of level 3 running out, and a failing step names a bug in that step's math.
As `lockstep compare` does, it asks sampled steps whether their bounds would also pass parameters that did
not move (`resync.BlindSteps`, left on the pair): the certificate says where a pass says nothing of an update.
"""

from __future__ import annotations

from lockstep.conformance.checks import Check
from lockstep.conformance.levels import predictions
from lockstep.conformance.levels._pair import Pair

NAME = "recipes"
STEPS: int | None = None  # every step of each example (`--recipe-steps` caps it)


def _at(check: Check, step: int) -> Check:
    return Check(f"step {step} {check.quantity}", check.error, check.tolerance, check.ratio, check.why)


def checks(pair: Pair, steps: int | None = STEPS) -> list[Check]:
    """The predictions of the first batch, the worst check of the whole run, and at the first failing step
    every failing check (the run stops there, or where the reference stops on a non-finite step)."""
    from lockstep.conformance.resync import BlindSteps, Judge, WorstStep

    out = predictions.checks(pair)
    pair.start()
    total = pair.prep.total_steps if steps is None else min(steps, pair.prep.total_steps)
    judge = Judge(pair.prep, pair.reference, pair.dtype)
    worst = WorstStep(judge)  # the margin under the derived bounds, not their lower bounds
    pair.blind = BlindSteps.sampled(total)
    for index in range(total):
        rs = judge.reference_step(index)
        verdict = judge.judge(rs, pair.actual, scratch=True)
        if not verdict.ok:
            return [*out, *(_at(c, verdict.t) for c in verdict.failed)]
        worst.offer(rs, verdict)
        pair.blind.ask(judge, rs)
        if rs.stopped is not None:
            break
    return [*out, *([_at(worst.check, worst.step)] if worst.check is not None and worst.step is not None else [])]
