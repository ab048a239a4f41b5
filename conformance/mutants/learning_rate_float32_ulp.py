"""A float64 run whose learning rate is held in float32 and is one float32 ulp high:
`nextafter(float32(lr), +inf)`, about 6e-8 relative. Keras keeps `learning_rate` in a float32 variable
(floatx) also for a float64 model, and its built-in schedules compute in float32, so a float64 run sees
a rate off in the 8th digit (adapters/tensorflow/schedules.py works around it); the extra ulp makes the
error one float32 ulp whatever lr is.

The rate the step reports is the one it used. In float64 the standard's tolerance is 1e-10 relative, so
the suite must see a float32 rounding of one scalar hyper-parameter.
"""

from __future__ import annotations

import numpy as np

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


def float32_ulp_up(lr: float) -> float:
    """The float32 number one ulp above float32(lr), as a float64."""
    return float(np.nextafter(np.float32(lr), np.float32(np.inf)))


class _Session(MutantSession):
    def learning_rate(self, t: int) -> float:
        return float32_ulp_up(super().learning_rate(t))  # the bug


class LearningRateFloat32UlpAdapter(MutantAdapter):
    """A float32-held learning rate, one ulp high, used and reported."""

    name = "mutant-learning_rate_float32_ulp"
    session_class = _Session
