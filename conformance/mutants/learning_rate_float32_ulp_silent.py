"""learning_rate_float32_ulp, but the step reports the float64 schedule's value it computed while the
optimizer runs on the float32 variable's (one ulp high): an adapter that returns its own lr(t) rather
than reading the framework's back. The learning-rate check cannot see it; only the parameters and the
optimizer state can, a ~6e-8 relative error in one factor of the update, against float64's 1e-10.
"""

from __future__ import annotations

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.conformance.mutants.learning_rate_float32_ulp import float32_ulp_up


class _Session(MutantSession):
    def optimizer_step(self, opt, name, param, grad, state, lr, t):
        return super().optimizer_step(opt, name, param, grad, state, float32_ulp_up(lr), t)  # the bug


class LearningRateFloat32UlpSilentAdapter(MutantAdapter):
    """A float32-held learning rate, one ulp high, used but reported as the float64 value."""

    name = "mutant-learning_rate_float32_ulp_silent"
    session_class = _Session
