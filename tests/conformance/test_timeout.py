"""`lockstep certify --timeout S`: a check that hangs is stopped (its worker process killed) and reported an
`error`; every other check runs and is reported as without the hang, in plan order, and the reports are written.

The hanging adapter is the reference adapter whose sessions for models with tanh and no relu never return from a
forward pass (the `tanh` checks hang; `relu`'s cases, which also draw tanh layers, do not)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from lockstep import api
from lockstep.cli import main
from lockstep.conformance import parallel
from lockstep.conformance.parallel import timed_out_message
from lockstep.errors import LockstepError

HANGING = '''
import time
from lockstep.adapters.reference import ReferenceAdapter

class Hanging(ReferenceAdapter):
    name = "hanging"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        session = super().build(model, dtype=dtype, device=device, recipe=recipe)
        kinds = {getattr(layer, "type", None) for layer in model.layers}
        if "tanh" in kinds and "relu" not in kinds:
            session.forward = lambda *args, **kwargs: time.sleep(3600)
        return session
'''

SETTINGS: dict[str, Any] = {"constructs": "relu,tanh,sigmoid,mse", "examples": 2, "log": lambda _m: None}


@pytest.fixture
def hanging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`module:attribute` of the hanging adapter, importable here and in spawned workers (they get sys.path)."""
    (tmp_path / "hanging_pkg.py").write_text(HANGING)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "hanging_pkg:Hanging"


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_hanging_check_is_an_error_and_the_rest_run(hanging: str, jobs: int, tmp_path: Path) -> None:
    cert = api.certify(hanging, **SETTINGS, jobs=jobs, timeout=3, report=tmp_path / "r")
    reference = api.certify("reference", **SETTINGS, jobs=1, report=False)
    assert [c.name for c in cert.checks] == [c.name for c in reference.checks]  # every check, in plan order
    errors = {c.name for c in cert.checks if c.outcome == "error"}
    assert errors == {f"tanh.{what}.{dt}.cpu" for what in ("predictions", "gradients")
                      for dt in ("float32", "float64")}, errors
    assert all(c.message == timed_out_message(3) for c in cert.checks if c.outcome == "error")
    assert all(c.outcome == r.outcome for c, r in zip(cert.checks, reference.checks, strict=True)
               if c.name not in errors)
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert report["environment"]["timeout"] == "3 s per check" and not report["certified"]


def test_the_command_says_the_timeout_and_exits_1(hanging: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["certify", "--adapter", hanging, "--construct", "tanh", "--dtype", "float64", "--examples", "1",
            "--timeout", "2.5", "--jobs", "1", "--report", str(tmp_path / "r")]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "each check stopped after 2.5 s" in captured.err and "Traceback" not in captured.err
    assert "ERROR tanh.predictions.float64.cpu: timed out: still running after 2.5 s (--timeout)" in " ".join(
        captured.out.split()), captured.out
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert all(c["seconds"] >= 2.5 for c in report["checks"]), report["checks"]
    # the provenance support() declared before the check hung is kept (it was null, and the summary said "none of
    # one construct (example recipes and random models span several...)" of tanh)
    assert all(c["provenance"] == "written" and c["support"].startswith("written: ") for c in report["checks"])
    assert "provenance of the checks run: native 0 · bridged 0 · written 2" in captured.out, captured.out


def test_a_timeout_that_is_not_reached_changes_nothing() -> None:
    settings = {**SETTINGS, "constructs": "relu,sigmoid", "dtypes": "float64", "report": False}
    timed = api.certify("reference", **settings, jobs=1, timeout=600)
    plain = api.certify("reference", **settings, jobs=1)
    assert [c.to_json() | {"seconds": 0} for c in timed.checks] == [c.to_json() | {"seconds": 0} for c in plain.checks]
    assert timed.environment["timeout"] == "600 s per check" and "timeout" not in plain.environment


@pytest.mark.parametrize("value, said", [
    (0, "timeout must be a finite number of seconds above 0, got 0"),
    (-1.5, "timeout must be a finite number of seconds above 0, got -1.5"),
    (math.nan, "timeout must be a finite number of seconds above 0, got nan"),
    (math.inf, "timeout must be a finite number of seconds above 0, got inf"),
    ("5", "timeout: expected seconds (a number), got str '5'"),
    (True, "timeout: expected seconds (a number), got bool True"),
])
def test_bad_timeouts_are_refused_before_anything_runs(value: Any, said: str) -> None:
    with pytest.raises(LockstepError) as info:
        api.certify("reference", constructs="relu", timeout=value, report=False)
    assert str(info.value) == said and info.value.exit_code == 2


@pytest.mark.parametrize("text", ["0", "-3", "nan", "inf", "soon"])
def test_bad_timeouts_on_the_command_line_exit_2(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["certify", "--adapter", "reference", "--construct", "relu", f"--timeout={text}"]) == 2
    err = capsys.readouterr().err
    assert "--timeout" in err and "Traceback" not in err, err


def test_an_adapter_object_a_worker_cannot_rebuild_is_refused_with_a_timeout() -> None:
    """A timeout runs the checks in a worker, which must rebuild the adapter: an object whose class lives only
    here (not importable by its module path) is one sentence, as with --jobs, not a pickling traceback."""
    from lockstep.adapters.reference import ReferenceAdapter

    local = type("Local", (ReferenceAdapter,), {"name": "local"})()
    with pytest.raises(LockstepError) as info:
        api.certify(local, constructs="relu", timeout=5, report=False, log=lambda _m: None)
    assert str(info.value).startswith("--jobs and --timeout need an adapter a worker process can rebuild"), info.value


MORE = '''
import os
import time
from lockstep.adapters.reference import ReferenceAdapter

class SupportHangs(ReferenceAdapter):
    """support() for sigmoid never answers in a worker process (the parent, which plans, is not a worker)."""
    name = "support-hangs"

    def support(self, construct, *, dtype="float32", device="cpu"):
        if construct == "sigmoid" and os.environ.get("LOCKSTEP_TEST_PARENT") != str(os.getpid()):
            time.sleep(3600)
        return super().support(construct, dtype=dtype, device=device)

class Interrupting(ReferenceAdapter):
    """build() raises KeyboardInterrupt for tanh models: the adapter's, not the user's Ctrl-C."""
    name = "interrupting"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        kinds = {getattr(layer, "type", None) for layer in model.layers}
        if "tanh" in kinds and "relu" not in kinds:
            raise KeyboardInterrupt
        return super().build(model, dtype=dtype, device=device, recipe=recipe)
'''


@pytest.fixture
def more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "more_pkg.py").write_text(MORE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LOCKSTEP_TEST_PARENT", str(__import__("os").getpid()))
    return "more_pkg"


def test_a_timed_out_check_is_reported_without_asking_the_adapter_again(more: str) -> None:
    """The parent writes a timed-out check's error without calling support(): the adapter that hung in a worker
    would hang the parent too, where no timeout reaches."""
    cert = api.certify(f"{more}:SupportHangs", constructs="relu,sigmoid", dtypes="float64", examples=2, jobs=1,
                       timeout=3, report=False, log=lambda _m: None)
    assert {c.name: c.outcome for c in cert.checks} == {
        "relu.predictions.float64.cpu": "pass", "relu.gradients.float64.cpu": "pass",
        "sigmoid.predictions.float64.cpu": "error", "sigmoid.gradients.float64.cpu": "error"}


def test_a_keyboard_interrupt_from_adapter_code_in_a_worker_is_that_checks_error(more: str) -> None:
    """Workers ignore SIGINT, so a KeyboardInterrupt there is the adapter's: an error of its check, the run goes on
    (it ended the whole certification with 'interrupted' and no report)."""
    cert = api.certify(f"{more}:Interrupting", constructs="relu,tanh", dtypes="float64", examples=2, jobs=2,
                       report=False, log=lambda _m: None)
    outcome = {c.name: (c.outcome, c.message) for c in cert.checks}
    assert outcome["relu.gradients.float64.cpu"][0] == "pass"
    assert outcome["tanh.gradients.float64.cpu"][0] == "error" and "KeyboardInterrupt" in \
        outcome["tanh.gradients.float64.cpu"][1], outcome


def test_a_timeout_beyond_floats_is_refused_in_one_line() -> None:
    with pytest.raises(LockstepError) as info:
        api.certify("reference", constructs="relu", timeout=10**400, report=False)
    assert str(info.value).startswith("timeout must be a finite number of seconds above 0, got 1000000")


SLOW = '''
import os
import time
from pathlib import Path

from lockstep.adapters.reference import ReferenceAdapter


def _wait() -> None:
    release = Path(os.environ["LOCKSTEP_TEST_RELEASE"])
    while not release.exists():
        time.sleep(0.05)


if os.environ.get("LOCKSTEP_TEST_SLOW_IMPORT"):
    _wait()


if os.environ.get("LOCKSTEP_TEST_BACKTRACKING_IMPORT"):  # native code that never returns to Python
    import re

    re.match(r"(a+)+$", "a" * 60 + "b")

if os.environ.get("LOCKSTEP_TEST_SIGNAL_AT_IMPORT"):  # as a framework may: only the main thread can
    import signal

    signal.signal(signal.SIGUSR1, lambda *_args: None)


class SlowDevices(ReferenceAdapter):
    name = "slow-devices"

    def devices(self):
        _wait()
        return super().devices()
'''


@pytest.fixture
def slow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A module `slow_pkg` whose import (LOCKSTEP_TEST_SLOW_IMPORT) or devices() waits until the test ends; loading
    then gets the timeout itself (parallel.LOAD_SECONDS 0)."""
    (tmp_path / "slow_pkg.py").write_text(SLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    release = tmp_path / "release"
    monkeypatch.setenv("LOCKSTEP_TEST_RELEASE", str(release))
    monkeypatch.setattr(parallel, "LOAD_SECONDS", 0.0)
    yield monkeypatch
    release.write_text("")  # the waiting thread ends


def test_a_hanging_import_is_an_error_after_the_timeout(slow: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """An adapter whose import hangs stopped nothing before: the timeout covered the checks only."""
    slow.setenv("LOCKSTEP_TEST_SLOW_IMPORT", "1")
    t0 = time.monotonic()
    argv = ["certify", "--adapter", "slow_pkg:SlowDevices", "--construct", "relu", "--timeout", "1.5",
            "--report", str(tmp_path / "r")]
    assert main(argv) == 2
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err
    assert "adapter `slow_pkg:SlowDevices`: loading it (its import, configure_threads(), devices(), versions()) " \
           "still running after 1.5 s (--timeout 1.5" in err and "Traceback" not in err, err


def test_a_hanging_devices_is_an_error_after_the_timeout(slow: pytest.MonkeyPatch) -> None:
    with pytest.raises(LockstepError, match=r"loading it .* still running after 1 s") as info:
        api.certify("slow_pkg:SlowDevices", constructs="relu", timeout=1, report=False, log=lambda _m: None)
    assert info.value.exit_code == 2


def test_loading_gets_at_least_load_seconds(slow: pytest.MonkeyPatch) -> None:
    """A framework's import takes longer than a small check's timeout: loading is given LOAD_SECONDS at least."""
    slow.setattr(parallel, "LOAD_SECONDS", 10.0)  # a busy machine starts its workers slowly
    release = Path(__import__("os").environ["LOCKSTEP_TEST_RELEASE"])
    timer = __import__("threading").Timer(1.0, release.write_text, args=("",))
    timer.start()
    cert = api.certify("slow_pkg:SlowDevices", constructs="relu", dtypes="float64", examples=1, timeout=0.5,
                       report=False, log=lambda _m: None)
    timer.join()
    assert cert.certified


LICENSED = '''
import os
import time
from pathlib import Path

from lockstep.adapters.reference import ReferenceAdapter

if os.environ.get("LOCKSTEP_TEST_PARENT") != str(os.getpid()):  # a worker: the first one takes the only licence
    try:
        if os.environ.get("LOCKSTEP_TEST_NOBODY"):  # nobody gets it: every worker waits
            raise FileExistsError
        os.close(os.open(os.environ["LOCKSTEP_TEST_LICENCE"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        while not Path(os.environ["LOCKSTEP_TEST_RELEASE"]).exists():
            time.sleep(0.05)
        raise SystemExit("released")


class Licensed(ReferenceAdapter):
    name = "licensed"
'''


@pytest.fixture
def licensed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`licensed_pkg:Licensed`, whose import in a worker takes the one licence there is (the first worker's), or
    waits for one until the test ends."""
    (tmp_path / "licensed_pkg.py").write_text(LICENSED)
    monkeypatch.syspath_prepend(str(tmp_path))
    release = tmp_path / "release"
    monkeypatch.setenv("LOCKSTEP_TEST_PARENT", str(__import__("os").getpid()))
    monkeypatch.setenv("LOCKSTEP_TEST_LICENCE", str(tmp_path / "licence"))
    monkeypatch.setenv("LOCKSTEP_TEST_RELEASE", str(release))
    monkeypatch.setattr(parallel, "LOAD_SECONDS", 3.0)
    monkeypatch.setattr(parallel, "SHUTDOWN_SECONDS", 2.0)
    yield monkeypatch
    release.write_text("")


def test_workers_stuck_starting_are_an_error_after_the_load_limit(licensed: pytest.MonkeyPatch) -> None:
    """No worker ever gets the licence: certify hung forever, whatever --timeout said."""
    licensed.setenv("LOCKSTEP_TEST_NOBODY", "1")
    t0 = time.monotonic()
    with pytest.raises(LockstepError, match=r"no worker process took up a check in 3 s: they are stuck starting"):
        api.certify("licensed_pkg:Licensed", constructs="relu", dtypes="float64", examples=1, jobs=1, timeout=1,
                    report=False, log=lambda _m: None)
    assert time.monotonic() - t0 < 30


def test_without_a_timeout_workers_stuck_starting_are_told_of(licensed: pytest.MonkeyPatch) -> None:
    """No --timeout, no limit: the run waited silently forever; now it says so once after LOAD_SECONDS (3 s here)
    and goes on waiting (here until the workers give up, when the licence server is released)."""
    licensed.setenv("LOCKSTEP_TEST_NOBODY", "1")
    said: list[str] = []
    release = Path(__import__("os").environ["LOCKSTEP_TEST_RELEASE"])
    timer = __import__("threading").Timer(6.0, release.write_text, args=("",))
    timer.start()
    with pytest.raises(LockstepError, match="a worker process could not start"):
        api.certify("licensed_pkg:Licensed", constructs="relu,sigmoid", dtypes="float64", examples=1, jobs=2,
                    report=False, log=said.append)
    timer.join()
    told = [line for line in said if "no worker process has taken up a check in 3 s" in line]
    assert len(told) == 1 and "--jobs 1" in told[0], said


@pytest.mark.parametrize("timeout", [60, None])
def test_a_worker_that_never_starts_does_not_hold_up_the_end(licensed: pytest.MonkeyPatch, timeout: Any) -> None:
    """One worker gets the licence and runs every check; the other waits for it at import, never reading its stop:
    the pool's shutdown waited for it forever (with the default --jobs too)."""
    t0 = time.monotonic()
    cert = api.certify("licensed_pkg:Licensed", constructs="relu,sigmoid", dtypes="float64", examples=1, jobs=2,
                       timeout=timeout, report=False, log=lambda _m: None)
    assert cert.certified and len(cert.checks) == 4
    assert time.monotonic() - t0 < 60


def test_a_hang_in_native_code_at_import_is_stopped_too(slow: pytest.MonkeyPatch) -> None:
    """An import stuck in a backtracking regular expression (native code, holding the GIL) ran in a thread of its
    own, out of reach of the load limit and of SIGTERM; loading runs in the main thread now, under a timer."""
    slow.setenv("LOCKSTEP_TEST_BACKTRACKING_IMPORT", "1")
    t0 = time.monotonic()
    with pytest.raises(LockstepError, match=r"loading it .* still running after 1 s"):
        api.certify("slow_pkg:SlowDevices", constructs="relu", timeout=1, report=False, log=lambda _m: None)
    assert time.monotonic() - t0 < 20


def test_an_adapter_setting_signal_handlers_at_import_loads_with_a_timeout(slow: pytest.MonkeyPatch) -> None:
    """It failed with 'signal only works in main thread' with --timeout only (the load ran in another thread)."""
    slow.setenv("LOCKSTEP_TEST_SIGNAL_AT_IMPORT", "1")
    slow.setattr(parallel, "LOAD_SECONDS", 30.0)
    Path(__import__("os").environ["LOCKSTEP_TEST_RELEASE"]).write_text("")  # devices() answers at once
    cert = api.certify("slow_pkg:SlowDevices", constructs="relu", dtypes="float64", examples=1, timeout=30,
                       report=False, log=lambda _m: None)
    assert cert.certified


@pytest.mark.parametrize("timeout", [1e10, 1e300])
def test_a_timeout_beyond_the_system_timers_means_no_practical_limit(timeout: float) -> None:
    """--timeout 1e10 (written for "no limit") overflowed a thread wait: a traceback."""
    cert = api.certify("reference", constructs="relu", dtypes="float64", examples=1, timeout=timeout, report=False,
                       log=lambda _m: None)
    assert cert.certified
