"""A SIGTERM acted on just after certify's reports went into --report DIR: the command said "terminated" (143) with
no verdict, as if the run had been stopped before writing, yet DIR held this run's new certificate and the earlier
run's failures/ were gone. It now says that DIR holds this run's report, and which verdict, then "terminated"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import os, signal, sys, time
import lockstep.cli as cli
from lockstep.conformance import report
real = report.write_reports
def {where}(*a, **k):
    out = real(*a, **k)
    {signal_inside}
    return out
report.write_reports = {where}
{signal_after}
sys.exit(cli.main(["certify", "--adapter", "reference", "--construct", "relu", "--level", "1", "--dtype", "float64",
                   "--examples", "2", "-q", "--jobs", "1", "--report", {out!r}]))
"""
KILL = "os.kill(os.getpid(), signal.SIGTERM); time.sleep(0.5)"


@pytest.mark.parametrize("when", ["with the renames", "while printing"])
def test_a_signal_after_the_reports_went_in_says_they_stand(tmp_path: Path, when: str) -> None:
    out = tmp_path / "certify-reference"
    if when == "with the renames":
        code = SCRIPT.format(where="written", signal_inside=KILL, signal_after="", out=str(out))
    else:  # the summary table's printing: the API has returned
        code = SCRIPT.format(where="written", signal_inside="", out=str(out), signal_after=(
            "table = report.summary_table\n"
            f"def stopped(cert):\n    {KILL}\n    return table(cert)\n"
            "report.summary_table = stopped"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 143, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "terminated", done.stderr
    assert lines[-2].startswith("lockstep certify: stopped after this run's report was written: ") and \
        lines[-2].endswith("is this run's, CERTIFIED"), done.stderr
    assert json.loads((out / "report.json").read_text())["certified"] is True


def test_a_signal_before_the_reports_went_in_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "certify-reference"
    code = SCRIPT.format(where="written", signal_inside="", out=str(out), signal_after=(
        "def never(*a, **k):\n"
        f"    {KILL}\n"
        "report.write_reports = never"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stderr.strip().splitlines()[-1:]) == (143, ["terminated"]), done.stderr
    assert "report was written" not in done.stderr and not (out / "report.json").exists()
