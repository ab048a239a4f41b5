"""A pytest session on a hanging adapter ends as the user asks. pytest's own outcomes raised inside adapter code end
the item as pytest raised them. pytest-timeout's
`--timeout-method=signal` (docs/certify.md's way to stop a hanging adapter) raises its Failed from a SIGALRM handler
wherever the code is: it was taken for the adapter's error, hypothesis took it for the check's failure and ran the
example again with no timer left, and a serial session hung for good; and a SIGTERM to pytest-xdist's controller
left its workers running (sweep, 2026-12-07)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


HANGS_IN_BUILD = '''
import os
from pathlib import Path

from lockstep.adapters.reference import ReferenceAdapter


class HangsInBuild(ReferenceAdapter):
    name = "hangsinbuild"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        Path(os.environ["HANG_MARKS"], str(os.getpid())).write_text("")
        sum(range(10**15))  # native code holding the GIL: no thread of the worker's own can notice anything
'''


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_xdist_workers_end_with_a_controller_stopped_by_sigterm(tmp_path: Path) -> None:
    """A SIGTERM to pytest-xdist's controller left its workers hung in the adapter, reparented to init, for good
    where the hang holds the GIL (execnet's own thread notices a closed channel only where it can run)."""
    pytest.importorskip("xdist")
    (tmp_path / "lockstep_hangs_in_build.py").write_text(HANGS_IN_BUILD)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "HANG_MARKS": str(marks), "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get(
        "PYTHONPATH", "")])}
    controller = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2",
         "--lockstep-adapter=lockstep_hangs_in_build:HangsInBuild", "--lockstep-construct=dense,relu",
         "--lockstep-level=1", "--lockstep-dtype=float32", "--lockstep-examples=1"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline and controller.poll() is None:
            time.sleep(0.2)
        workers = _children(controller.pid)
        assert len(list(marks.iterdir())) == 2 and workers, "both workers hang in the adapter"
        controller.send_signal(signal.SIGTERM)
        controller.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [w for w in workers if _alive(w)], "a worker outlived its controller"
    finally:
        for pid in [controller.pid, *workers]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
