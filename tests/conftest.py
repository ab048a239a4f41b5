"""Test-wide settings: hypothesis runs derandomized (reproducible in CI) unless LOCKSTEP_HYPOTHESIS=random; fixtures
several test files share."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import yaml  # noqa: F401 - see below
from hypothesis import HealthCheck, settings

import lockstep.conformance.suite
import lockstep.spec.loader

# pytester's in-process runs (the plugin tests) restore sys.modules afterwards, dropping every module the run
# imported first: a worker whose first YAML dump happened inside one then held two `yaml` modules, and dumps
# failed with "EmitterError: expected SCALAR, SEQUENCE-START, ..." (one copy's events, the other's emitter) in
# whichever tests came next on that pytest-xdist worker. Imported here, they are in every snapshot.

# torch's OpenMP reads its wait policy when torch loads, which a test module may do before the adapter package
# sets its default (adapters/torch/__init__.py): set it here first, the same way, unless the caller chose one
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, at its import, which a test module may do (`pytest.importorskip`)
# before the adapter package sets it: its import here sets it first (it does not import TensorFlow). A test that
# compared a serial certification in this process with worker processes' failed when run alone: oneDNN's float32
# kernels here, not in the workers
import lockstep.adapters.tensorflow  # noqa: F401

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


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A read that blocks (a FIFO opened for reading) fails the test after 20 s instead of hanging the run."""
    if not hasattr(signal, "SIGALRM") or not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs or SIGALRM here")

    def _alarm(signum: int, frame: object) -> None:
        raise AssertionError("a read blocked for 20 s (a FIFO read as a file?)")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
