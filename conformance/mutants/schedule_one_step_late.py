"""A schedule one step late: the update with 0-based index t runs at lr(t − 1) (the first at lr(0)).

It is the off-by-one of an adapter that refreshes the framework's rate at the end of each step from the
step it has just taken (`param_group["lr"] = lr(t)` after `optimizer.step()` of update t, where lr(t + 1)
is due), the torch habit of stepping a scheduler after the optimizer carried over to a closed-form
schedule. The standard runs update t at lr(t) (reference/schedules; docs/spec/v1-semantics.md,
divergence 16). The rate each step reports is the one it used. Invisible with a constant schedule; any
decay or warm-up shows it from the second step on.
"""

from __future__ import annotations

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def learning_rate(self, t: int) -> float:
        return super().learning_rate(max(t - 1, 0))  # the bug: the previous step's rate


class ScheduleOneStepLateAdapter(MutantAdapter):
    """Schedules evaluated one optimizer step late."""

    name = "mutant-schedule_one_step_late"
    session_class = _Session
