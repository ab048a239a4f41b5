"""`pytest --lockstep-report=DIR`: what a session leaves in DIR. Its failing cases replace the earlier ones only
together with the four reports (as `lockstep certify`'s), so a stopped session leaves the earlier certificate whole.
Run by pytester against the broken reference adapter of test_pytest_plugin, in float64, with 2 examples per check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import pytest
from test_pytest_plugin import BROKEN, FAST  # the adapter whose Adam step is wrong

import lockstep.adapters.reference
import lockstep.conformance.report
import lockstep.conformance.suite  # noqa: F401

pytest_plugins = ["pytester"]

BROKEN_ADAPTER = "--lockstep-adapter=lockstep_broken_adapter:BrokenAdapter"

# The broken adapter (Adam fails), stopped by Ctrl-C when it is asked to build an AdamW session: run on
# `adam,adamw`, a session has written adam's failing case by the time it is stopped.
STOPPING = '''
from lockstep_broken_adapter import BrokenAdapter


class StoppingAdapter(BrokenAdapter):
    name = "stopping"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        if recipe is not None and recipe.optimizer.type == "adamw":
            raise KeyboardInterrupt
        return super().build(model, dtype=dtype, device=device, recipe=recipe)
'''
STOPPING_ADAPTER = "--lockstep-adapter=lockstep_stopping_adapter:StoppingAdapter"


@pytest.fixture
def broken(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(lockstep_broken_adapter=BROKEN, lockstep_stopping_adapter=STOPPING)
    pytester.syspathinsert()
    return pytester


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` (relative) and its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def test_a_stopped_session_keeps_the_earlier_certificate_and_its_cases(broken: pytest.Pytester) -> None:
    """The failures/ of the earlier certificate were removed when the session's checks were collected, and the stopped
    session's own cases written into DIR/failures/ beside the earlier reports, which named other cases."""
    first = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST, "--lockstep-report=R")
    first.assert_outcomes(failed=1)
    (broken.path / "R" / "failures" / "adam.updates.float64.cpu" / "first-session.txt").write_text("mine\n")
    before = tree(broken.path / "R")
    result = broken.runpytest_subprocess(STOPPING_ADAPTER, "--lockstep-construct=adam,adamw", *FAST,
                                         "--lockstep-report=R")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(["*the session was interrupted: no report written to R*"])
    assert tree(broken.path / "R") == before


def test_a_stopped_first_session_leaves_no_failing_cases(broken: pytest.Pytester) -> None:
    """A fresh folder was left with failures/ and no report.json, which `lockstep certify --report` refuses."""
    result = broken.runpytest_subprocess(STOPPING_ADAPTER, "--lockstep-construct=adam,adamw", *FAST,
                                         "--lockstep-report=R")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    folder = broken.path / "R"
    assert not folder.exists() or [p.name for p in folder.iterdir() if p.name != ".lockstep.lock"] == []


def test_failing_cases_replace_the_earlier_ones_with_the_reports(broken: pytest.Pytester) -> None:
    first = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST, "--lockstep-report=R")
    first.assert_outcomes(failed=1)
    (broken.path / "R" / "failures" / "stale.case").mkdir()
    again = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST, "--lockstep-report=R")
    again.assert_outcomes(failed=1)
    report = json.loads((broken.path / "R" / "report.json").read_text())
    assert [c["failure_dir"] for c in report["checks"]] == ["failures/adam.updates.float64.cpu"]
    assert sorted(p.name for p in (broken.path / "R" / "failures").iterdir()) == ["adam.updates.float64.cpu"]
    assert (broken.path / "R" / "failures" / "adam.updates.float64.cpu" / "recipe.yaml").is_file()
    assert not [p for p in (broken.path / "R").iterdir() if p.name.startswith(".lockstep-old-")]  # no stage left


def test_under_xdist_workers_stage_and_x_keeps_the_earlier_cases(broken: pytest.Pytester) -> None:
    """The workers write into the controller's stage; `-x` under pytest-xdist stops the session (interrupted): the
    earlier cases stay."""
    pytest.importorskip("xdist")
    common = ["-p", "no:cacheprovider", "-n", "2", BROKEN_ADAPTER, "--lockstep-construct=adam,adamw", *FAST,
              "--lockstep-report=R"]
    first = broken.runpytest_subprocess(*common)
    first.assert_outcomes(failed=1, passed=1)
    assert (broken.path / "R" / "failures" / "adam.updates.float64.cpu" / "recipe.yaml").is_file()
    (broken.path / "R" / "failures" / "adam.updates.float64.cpu" / "first-session.txt").write_text("mine\n")
    before = tree(broken.path / "R")
    stopped = broken.runpytest_subprocess(*common, "-x")
    assert stopped.ret == pytest.ExitCode.INTERRUPTED, stopped.stdout.str()
    assert tree(broken.path / "R") == before


# ------------------------------------------------------------------------------------ the folder's lock
def test_a_folder_another_command_holds_is_refused(pytester: pytest.Pytester) -> None:
    """The plugin neither took nor respected the lock that certify, run and compare take: both wrote into one folder."""
    from lockstep.runfolder import CERTIFY_OUTPUTS, claim

    held = claim(pytester.path / "R", outputs=CERTIFY_OUTPUTS, mode="resume", prog="lockstep certify")
    try:
        result = pytester.runpytest_subprocess("--lockstep-adapter=reference", "--lockstep-construct=dense",
                                               "--lockstep-level=1", *FAST, "--lockstep-report=R")
    finally:
        held.release()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"ERROR: --lockstep-report R is in use by another Lockstep command: pid {os.getpid()} "
                                 "on *; wait for it to end, or choose another folder"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not (pytester.path / "R" / "report.json").exists()


def test_a_busy_folder_is_refused_before_the_adapter_is_imported(pytester: pytest.Pytester) -> None:
    """The lock was taken only after the adapter had been imported (seconds for TensorFlow), so a busy folder was
    said only after that wait; now it is said first, and the adapter module is never imported."""
    from lockstep.runfolder import CERTIFY_OUTPUTS, claim

    pytester.makepyfile(lockstep_slow_adapter="from pathlib import Path\nPath('imported').write_text('yes')\n"
                                              "from lockstep.adapters.reference import ReferenceAdapter\n")
    held = claim(pytester.path / "R", outputs=CERTIFY_OUTPUTS, mode="resume", prog="lockstep certify")
    try:
        result = pytester.runpytest_subprocess("--lockstep-adapter=lockstep_slow_adapter:ReferenceAdapter",
                                               "--lockstep-construct=dense", "--lockstep-level=1", *FAST,
                                               "--lockstep-report=R")
    finally:
        held.release()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(["ERROR: --lockstep-report R is in use by another Lockstep command: *"])
    assert not (pytester.path / "imported").exists()


CERTIFY_DURING_THE_SESSION = '''
import subprocess
import sys


def test_certify_into_the_sessions_folder_is_refused():
    done = subprocess.run([sys.executable, "-m", "lockstep", "certify", "--adapter", "reference", "--construct",
                           "dense", "--level", "1", "--dtype", "float64", "--examples", "2", "--report", "R"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "R is in use by another Lockstep command" in done.stderr and "pytest" in done.stderr, done.stderr
'''


def test_certify_is_refused_while_a_session_holds_the_folder(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_certify_during=CERTIFY_DURING_THE_SESSION)
    result = pytester.runpytest_subprocess("--lockstep-adapter=reference", "--lockstep-construct=dense",
                                           "--lockstep-level=1", *FAST, "--lockstep-report=R", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert json.loads((pytester.path / "R" / "report.json").read_text())["certified"]


# ------------------------------------------------------------------------------------ a session that ran a subset
def test_the_reports_of_a_subset_are_certified_for_these_checks_only(broken: pytest.Pytester) -> None:
    """With `-k dense` the broken adapter's failing Adam check was deselected, and report.json, report.md,
    report.html and junit.xml said CERTIFIED; only the terminal said "certified for these checks"."""
    from lockstep.certificate import Certificate

    result = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=dense,adam", *FAST, "-k", "dense",
                              "--lockstep-report=R")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["2 checks: 2 pass, * · certified for these checks"])
    folder = broken.path / "R"
    report = json.loads((folder / "report.json").read_text())
    assert report["selection"].startswith("this pytest session ran 2 of the 3 planned checks; 1 not run"), report
    assert "**CERTIFIED FOR THESE CHECKS**" in (folder / "report.md").read_text()
    assert "— CERTIFIED FOR THESE CHECKS</title>" in (folder / "report.html").read_text()
    assert '<property name="verdict" value="CERTIFIED FOR THESE CHECKS"/>' in (folder / "junit.xml").read_text()
    assert Certificate.read(folder).selection == report["selection"]
    whole = broken.runpytest("--lockstep-adapter=reference", "--lockstep-construct=dense", *FAST,
                             "--lockstep-report=R")
    whole.assert_outcomes(passed=2)
    assert "selection" not in json.loads((folder / "report.json").read_text())  # the whole plan: certify's words
    assert "**CERTIFIED**" in (folder / "report.md").read_text()


def test_reports_a_killed_session_left_half_replaced_are_finished_and_said(broken: pytest.Pytester) -> None:
    """A session SIGKILLed between two of the reports' renames left them of two sessions; the next session's claim
    of the folder finishes the set (lockstep.spec.atomic.recover) and says so in its terminal summary."""
    from tests_support import KILLED, killed_after_renames

    first = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST, "--lockstep-report=R")
    first.assert_outcomes(failed=1)
    folder = broken.path / "R"
    files = {str(folder / n): (folder / n).read_bytes() + b"\n" for n in ("report.json", "junit.xml", "report.md")}
    done = killed_after_renames(1, f"from pathlib import Path\nfrom lockstep.spec import atomic\n"
                                   f"atomic.write_set({{Path(k): v for k, v in {files!r}.items()}})\n")
    assert done.returncode == KILLED and (folder / ".lockstep-writing").is_file(), done.stderr
    again = broken.runpytest(BROKEN_ADAPTER, "--lockstep-construct=adam", *FAST, "--lockstep-report=R")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["lockstep: R: finished a write of report.json, junit.xml, report.md that was "
                                "killed part-way: all are the new files"])
    assert not [p for p in folder.iterdir() if p.name.startswith(".") and p.name != ".lockstep.lock"]
