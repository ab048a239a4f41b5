"""`--junitxml` naming one of the `--lockstep-report` folder's report files: pytest said "generated xml file" of a
file Lockstep's reports then replaced (or the reverse). It is a usage error naming both options, before any work."""

from __future__ import annotations

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import pytest

pytest_plugins = ["pytester"]

FAST = ("--lockstep-adapter=reference", "--lockstep-construct=dense", "--lockstep-level=1",
        "--lockstep-dtype=float64", "--lockstep-examples=2")


@pytest.mark.parametrize("junit", ["R/junit.xml", "R/report.json", "R/./report.html", "S/report.md",
                                   "Q/../R/junit.xml"])
def test_junitxml_that_is_a_report_file_is_a_usage_error(pytester: pytest.Pytester, junit: str) -> None:
    (pytester.path / "R").mkdir()
    (pytester.path / "S").symlink_to(pytester.path / "R")  # the same folder by another name
    result = pytester.runpytest(*FAST, "--lockstep-report=R", f"--junitxml={junit}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and f"--junitxml={junit} is " in errors[0] and "--lockstep-report=R" in errors[0], errors
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert sorted(p.name for p in (pytester.path / "R").iterdir()) == []  # nothing written, nothing locked


def test_junitxml_beside_the_reports_is_fine(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*FAST, "--lockstep-report=R", "--junitxml=R/pytest.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "R" / "pytest.xml").is_file() and (pytester.path / "R" / "junit.xml").is_file()
    assert "lockstep certify reference" in (pytester.path / "R" / "junit.xml").read_text()
    assert "lockstep certify" not in (pytester.path / "R" / "pytest.xml").read_text()
