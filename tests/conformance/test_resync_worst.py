"""A re-synchronized run's worst step is its worst under the derived rules, not the step of the largest cheap bound.

A step settled by a lower tier (VALUE, FLOOR) has a ratio that only bounds its derived one from above; the run's
worst used to be the derived ratio of the step with the largest bound, which could be any other step's: lstm-
sequences in float32 reported 1.1e-05 where step 1's derived ratio is 3.6e-04, tiny-gpt 4.6e-12 where it is 0.198
(`lockstep compare`, and level 4 of a certification, which reports the same figure).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from lockstep.conformance.checks import Check
from lockstep.conformance.resync import StepVerdict, WorstStep

ROOT = Path(__file__).resolve().parents[2]


class _Judge:
    """Derived ratios per step, and which steps were asked for them."""

    def __init__(self, exact: dict[int, float]) -> None:
        self.exact, self.asked = exact, []

    def derived_worst(self, rs: Any, verdict: StepVerdict) -> Check:
        self.asked.append(verdict.t)
        return Check("loss", self.exact[verdict.t], 1.0, self.exact[verdict.t])


def test_only_steps_whose_bound_beats_the_worst_so_far_are_derived() -> None:
    bounds = {1: 0.9, 2: 0.5, 3: 0.3, 4: 0.45}
    judge = _Judge({1: 0.1, 2: 0.4, 3: 0.29, 4: 0.2})
    worst = WorstStep(judge)  # type: ignore[arg-type]
    verdicts = [StepVerdict(t, True, Check("loss", b, 1.0, b), result=object(), state=object())  # type: ignore[arg-type]
                for t, b in bounds.items()]
    for v in verdicts:
        worst.offer(object(), v)  # type: ignore[arg-type]
    assert (worst.step, worst.check.ratio if worst.check else None) == (2, 0.4), (worst.step, worst.check)
    assert judge.asked == [1, 2, 4], judge.asked  # step 3's bound 0.3 cannot beat 0.4
    assert [v.worst.ratio for v in verdicts if v.worst] == [0.1, 0.4, 0.3, 0.2]  # the rows: exact, or a bound
    assert [v.derived for v in verdicts] == [True, True, False, True]  # below the worst, as compare.json says
    assert all(v.result is None and v.state is None for v in verdicts)  # nothing kept past its step


def test_compare_s_worst_is_the_largest_derived_ratio_of_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    import lockstep
    from lockstep.conformance import resync

    recipe = ROOT / "examples" / "lstm-sequences" / "recipe.yaml"
    found = lockstep.compare(recipe, ("reference", "torch"), steps=12, dtype="float32")
    step, check = found.worst("torch") or (0, None)
    rows = [(r.step, r.judged["torch"].worst.ratio) for r in found.rows if r.judged.get("torch")]
    assert check is not None and max(rows, key=lambda x: x[1]) == (step, check.ratio), (step, check, rows)

    real = resync.Judge.judge

    def every_step_derived(self: Any, rs: Any, session: Any, *, scratch: bool = False) -> StepVerdict:
        self._start[id(session)] = (resync.DERIVED, 1)
        return real(self, rs, session, scratch=scratch)

    monkeypatch.setattr(resync.Judge, "judge", every_step_derived)
    exact = lockstep.compare(recipe, ("reference", "torch"), steps=12, dtype="float32")
    truth = max(((r.step, r.judged["torch"].worst.ratio) for r in exact.rows if r.judged.get("torch")),
                key=lambda x: x[1])
    assert (step, check.ratio) == truth and math.isfinite(check.ratio), ((step, check.ratio), truth)
    assert exact.tiers[:2] == [0, 0]
