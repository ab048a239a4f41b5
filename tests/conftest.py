"""Test-wide settings: hypothesis runs derandomized (reproducible in CI) unless LOCKSTEP_HYPOTHESIS=random."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=40,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("random", deadline=None, max_examples=200, print_blob=True)
settings.load_profile("random" if os.environ.get("LOCKSTEP_HYPOTHESIS") == "random" else "ci")
