"""Warm-up one step short: the last warm-up update (0-based t = W − 1) already runs at the schedule's rate.

It is the off-by-one of an adapter that counts optimizer steps from 1 and compares that count with the warm-up
length (`if step < warmup_steps: ramp`, `step = t + 1`): the ramp's last value, base·(f + (1 − f)(W − 1)/W),
is skipped and the full rate arrives one update early. The standard warms up while t < W with t 0-based
(docs/spec/v1-semantics.md, warm-up; reference/schedules/warmup.py). Every schedule with a warm-up and a start
factor below 1 shows it at step W; the `boundary` edge class also runs warm-ups of 1 step and ones that end at
the last compared steps.
"""

from __future__ import annotations

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def learning_rate(self, t: int) -> float:
        w = self._recipe().schedule.warmup
        if w is not None and t + 1 == w.steps:  # the bug: the 1-based step compared with the warm-up length
            return super().learning_rate(w.steps)  # = the schedule's first rate, base
        return super().learning_rate(t)


class WarmupEndsEarlyAdapter(MutantAdapter):
    """Warm-up ends one optimizer step early."""

    name = "mutant-warmup_ends_early"
    session_class = _Session
