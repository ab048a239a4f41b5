"""A pytest session that ran part of its plan: its reports' `selection` follows the verdict (it said "certified for
these checks only" of a NOT CERTIFIED session), and a check pytest never ran is not in them (under `-x`, the level a
layer's shared hypothesis run had already answered was reported as passed)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import pytest

import lockstep.adapters.reference
import lockstep.conformance.report
import lockstep.conformance.suite  # noqa: F401

pytest_plugins = ["pytester"]

FAST = ("--lockstep-dtype=float64", "--lockstep-examples=2", "-p", "no:cacheprovider")

# predictions (the eval-mode forward) 1% off; the loss and gradients of level 2 are the reference's
EVAL_OFF = '''
from lockstep.adapters.reference import ReferenceAdapter


class EvalOff(ReferenceAdapter):
    name = "evaloff"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        session = super().build(model, dtype=dtype, device=device, recipe=recipe)
        forward = session.forward

        def off(x, *, training=False, masks=None):
            out = forward(x, training=training, masks=masks)
            return out if training else out * 1.01

        session.forward = off
        return session
'''
ADAPTER = "--lockstep-adapter=lockstep_eval_off:EvalOff"


@pytest.fixture
def evaloff(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(lockstep_eval_off=EVAL_OFF)
    pytester.syspathinsert()
    return pytester


def _selection(folder) -> list[str]:
    report = json.loads((folder / "report.json").read_text())
    junit = ET.parse(folder / "junit.xml").getroot()
    said = [report["selection"], *(p.get("value") for p in junit.iter("property") if p.get("name") == "selection")]
    md = next(line for line in (folder / "report.md").read_text().splitlines() if "planned checks" in line)
    html = next(line for line in (folder / "report.html").read_text().splitlines() if "planned checks" in line)
    return [*said, md, html]


def test_x_reports_no_check_pytest_did_not_run_and_says_not_certified(evaloff: pytest.Pytester) -> None:
    result = evaloff.runpytest(ADAPTER, "--lockstep-construct=relu", "--lockstep-level=1,2", *FAST, "-x",
                               "--lockstep-report=R")
    result.assert_outcomes(failed=1)  # relu's predictions; its gradients never ran (their result was known)
    report = json.loads((evaloff.path / "R" / "report.json").read_text())
    assert [(c["construct"], c["level"], c["outcome"]) for c in report["checks"]] == [("relu", 1, "fail")]
    assert report["counts"] == {"pass": 0, "fail": 1, "unsupported": 0, "error": 0} and not report["certified"]
    said = _selection(evaloff.path / "R")
    assert len(said) == 4 and all("ran 1 of the 2 planned checks" in s for s in said)
    assert all("not certified" in s and "certified for these checks only" not in s for s in said), said
    assert sorted(p.name for p in (evaloff.path / "R" / "failures").iterdir()) == ["relu.predictions.float64.cpu"]


def test_a_partial_session_that_passed_is_certified_for_these_checks(evaloff: pytest.Pytester) -> None:
    result = evaloff.runpytest(ADAPTER, "--lockstep-construct=relu", "--lockstep-level=1,2", *FAST, "-k",
                               "gradients", "--lockstep-report=R")
    result.assert_outcomes(passed=1, deselected=1)
    said = _selection(evaloff.path / "R")
    assert all("certified for these checks only" in s for s in said), said
    assert json.loads((evaloff.path / "R" / "report.json").read_text())["certified"]
