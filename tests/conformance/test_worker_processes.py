"""What a stopped worker leaves behind: nothing. A check killed by `--timeout` takes the processes its adapter
started and its temporary files with it, and a worker whose parent is killed ends even while its main thread holds
the GIL in native code (where its watching thread cannot run)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from tests_support import command_with_workers, spawned_children, still_running, survivors_of_a_killed_parent

from lockstep import api

ADAPTERS = '''
import os
import re
import subprocess
import sys
import tempfile
import time
import time
from pathlib import Path

from lockstep.adapters.reference import ReferenceAdapter


def _hangs(model):
    kinds = {getattr(layer, "type", None) for layer in model.layers}
    return "tanh" in kinds and "relu" not in kinds


class Spawning(ReferenceAdapter):
    """For tanh models: starts a helper process and writes a temporary file, then hangs."""
    name = "spawning"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        if _hangs(model):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
            Path(os.environ["LOCKSTEP_TEST_OUT"], f"child-{child.pid}").write_text("")
            handle, _ = tempfile.mkstemp(prefix="spawning-")
            os.write(handle, b"half a file")
            time.sleep(3600)
        return super().build(model, dtype=dtype, device=device, recipe=recipe)


class Swallowing(ReferenceAdapter):
    """For tanh models: waits forever and swallows every exception, the one SIGTERM raises included."""
    name = "swallowing"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        if _hangs(model):
            Path(os.environ["LOCKSTEP_TEST_OUT"], f"waiting-{os.getpid()}").write_text("")
            while True:
                try:
                    time.sleep(3600)
                except BaseException:
                    pass
        return super().build(model, dtype=dtype, device=device, recipe=recipe)


class HoldsTheGil(ReferenceAdapter):
    """For tanh models: a regular expression that backtracks for ages without releasing the GIL."""
    name = "holds-the-gil"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        if _hangs(model):
            Path(os.environ["LOCKSTEP_TEST_OUT"], f"worker-{os.getpid()}").write_text("")
            re.match(r"(a+)+$", "a" * 60 + "b")
        return super().build(model, dtype=dtype, device=device, recipe=recipe)
'''


@pytest.fixture
def adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The adapters' module importable here and in the workers; LOCKSTEP_TEST_OUT the folder they write pids to."""
    (tmp_path / "worker_pkg.py").write_text(ADAPTERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("LOCKSTEP_TEST_OUT", str(out))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not hasattr(os, "killpg"),
                    reason="process groups, found through /proc")
def test_a_timed_out_check_takes_its_adapters_processes_and_files(adapters: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    children: list[int] = []
    try:
        cert = api.certify("worker_pkg:Spawning", constructs="tanh", dtypes="float64", examples=1, jobs=1,
                           timeout=3, report=False, log=lambda _m: None)
        children = [int(p.name.split("-")[1]) for p in adapters.glob("child-*")]
        assert children, "the adapter started no helper process"
        assert {c.outcome for c in cert.checks} == {"error"}
        assert not still_running(children, 10), "the adapter's helper processes outlived their killed worker"
        assert not list(temporary.iterdir()), f"left behind: {sorted(p.name for p in temporary.rglob('*'))}"
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_holding_the_gil_ends_with_its_killed_parent(adapters: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    argv = [sys.executable, "-m", "lockstep", "certify", "--adapter", "worker_pkg:HoldsTheGil", "--construct", "tanh",
            "--dtype", "float64", "--examples", "1", "--jobs", "1", "--timeout", "600", "--quiet", "--report",
            str(tmp_path / "report")]

    def workers(_parent: int) -> list[int]:  # those that reached the GIL-holding call
        return [int(p.name.split("-")[1]) for p in adapters.glob("worker-*")]

    assert not survivors_of_a_killed_parent(argv, workers, 1, tmp_path, env=env, settle=0.5), \
        "a worker holding the GIL outlived its killed parent"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
@pytest.mark.parametrize("group", [False, True], ids=["to-the-command", "to-its-process-group"])
@pytest.mark.parametrize("sent, said", [("SIGTERM", "terminated"), ("SIGHUP", "hung up")])
def test_sigterm_stops_certify_with_its_clean_up(tmp_path: Path, sent: str, said: str, group: bool) -> None:
    """SIGTERM (a cancelled CI job) or SIGHUP (a closed terminal) ended `lockstep certify` by the default action: no
    clean-up ran, and the workers' temporary folder stayed. Now they are handled as Ctrl-C is: workers stopped,
    folder removed, exit 128 + the signal's number. Sent to the whole process group (a closed terminal, `timeout
    -s HUP`), SIGHUP also killed multiprocessing's resource tracker, which printed seven tracebacks (sweep O)."""
    number = getattr(signal, sent)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    argv = [sys.executable, "-m", "lockstep", "certify", "--adapter", "reference", "--jobs", "2", "--quiet", "--report",
            str(tmp_path / "report")]
    # the signal's default action in the command, whatever this process inherited (`nohup` ignores SIGHUP, and an
    # ignored signal is left ignored)
    with command_with_workers(argv, spawned_children, 2, temporary, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(number, signal.SIG_DFL),
                              start_new_session=group) as (proc, workers):
        time.sleep(2.0)
        if group:
            os.killpg(proc.pid, number)
        else:
            proc.send_signal(number)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + number, (proc.returncode, err)
        assert err.strip().endswith(said) and "Traceback" not in err, err
        assert not still_running(workers, 10), "workers outlived the terminated command"
        assert not list(temporary.glob("lockstep-certify-*")), sorted(p.name for p in temporary.iterdir())


def test_sigterm_ends_a_command_that_does_not_stop_within_the_grace(adapters: Path, tmp_path: Path) -> None:
    """A command whose main thread never gets back to Python (or swallows the exception, as here) ends
    TERM_GRACE_SECONDS after SIGTERM: handling SIGTERM must not make a command unkillable by it."""
    from lockstep.cli import TERM_GRACE_SECONDS

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    argv = [sys.executable, "-m", "lockstep", "certify", "--adapter", "worker_pkg:Swallowing", "--construct", "tanh",
            "--dtype", "float64", "--examples", "1", "--jobs", "1", "--quiet", "--report", str(tmp_path / "report")]

    def waiting(_parent: int) -> list[int]:  # the command itself, once in the swallowing call
        return [int(p.name.split("-")[1]) for p in adapters.glob("waiting-*")]

    with command_with_workers(argv, waiting, 1, tmp_path, env=env) as (proc, _):
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TERM_GRACE_SECONDS + 20) == 143
        assert TERM_GRACE_SECONDS - 1 < time.monotonic() - t0 < TERM_GRACE_SECONDS + 20
