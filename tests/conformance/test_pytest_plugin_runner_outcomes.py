"""pytest's own outcomes raised inside adapter code end the item as pytest raised them. pytest-timeout's
`--timeout-method=signal` (docs/certify.md's way to stop a hanging adapter) raises its Failed from a SIGALRM handler
wherever the code is: it was taken for the adapter's error, hypothesis took it for the check's failure and ran the
example again with no timer left, and a serial session hung for good (sweep, 2026-12-07)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# the first build is "stopped by the timer"; every later one hangs: a second call is the bug
ONCE_THEN_HANG = '''
import time

import pytest

from lockstep.adapters.reference import ReferenceAdapter

CALLS = []


class OnceThenHang(ReferenceAdapter):
    name = "oncethenhang"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        CALLS.append(1)
        if len(CALLS) == 1:
            pytest.fail("Timeout (>5.0s) from pytest-timeout.", pytrace=False)
        time.sleep(600)
'''


def test_a_timeout_s_failure_inside_adapter_code_fails_the_item_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(lockstep_once_then_hang=ONCE_THEN_HANG)
    result = pytester.runpytest_subprocess(
        "--lockstep-adapter=lockstep_once_then_hang:OnceThenHang", "--lockstep-construct=dense",
        "--lockstep-level=1", "--lockstep-dtype=float32", "--lockstep-examples=2", "-p", "no:cacheprovider",
        timeout=120)
    out = result.stdout.str()
    assert result.ret == 1, out
    assert "Timeout (>5.0s) from pytest-timeout." in out and "1 failed" in out, out
    assert "FlakyFailure" not in out and "AdapterRaised" not in out, out
