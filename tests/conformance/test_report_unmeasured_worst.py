"""A worst comparison that could not be made (a NaN where a finite value is due, a shape mismatch) was said four
ways: report.json had tolerance 0.0 and margin 0.0, report.md, report.html and junit.xml "margin non-finite", and
JUnit typed a shape mismatch `non-finite`. Every report now says the same: what was wrong, no error, no tolerance,
no margin; JUnit's type says which it was."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import lockstep
from lockstep.conformance.checks import check, fixed_rule
from lockstep.conformance.report import write_reports
from lockstep.conformance.results import Certification, CheckResult, Worst
from lockstep.conformance.suite import _worst


def _write(tmp_path: Path, actual: np.ndarray) -> Path:
    c = check("output", actual, np.zeros((1, 1)), fixed_rule("float64", 1.0))
    assert not c.ok and c.why
    result = CheckResult("relu", 1, "float64", "cpu", "fail", examples=1, worst=_worst(c), message=c.describe())
    fine = CheckResult("dense", 1, "float64", "cpu", "pass", examples=1, worst=Worst("output", 1e-13, 1e-12, 0.1))
    overflow = CheckResult("tanh", 1, "float64", "cpu", "fail", examples=1,
                           worst=Worst("output", 1e300, 1e-300, math.inf))  # measured, its ratio overflowed
    cert = Certification(adapter="a", adapter_versions={}, spec_version="lockstep/v1", suite_version="1.0.0", seed=0,
                         examples=1, levels=[1], dtypes=["float64"], devices=["cpu"], environment={},
                         checks=[fine, result, overflow])
    write_reports(cert, tmp_path / "r")
    return tmp_path / "r"


@pytest.mark.parametrize(("actual", "why", "kind", "tolerance"), [  # a NaN's element had a tolerance to meet
    (np.full((1, 1), np.nan), "non-finite (nan at index (0, 0); the reference's is 0)", "non-finite", 1e-12),
    (np.zeros((1, 2)), "shape [1, 2], the reference's [1, 1]", "shape", None),
])
def test_the_four_reports_say_an_unmeasured_worst_alike(tmp_path: Path, actual: np.ndarray, why: str,
                                                        kind: str, tolerance: float | None) -> None:
    folder = _write(tmp_path, actual)
    by = {c["construct"]: c["worst"] for c in json.loads((folder / "report.json").read_text())["checks"]}
    assert by["relu"] == {"quantity": f"output ({why})", "error": None, "tolerance": tolerance, "ratio": "inf",
                          "margin": None}
    assert by["tanh"]["tolerance"] == 1e-300 and by["tanh"]["ratio"] == "inf"  # measured: its figures stay
    assert math.isclose(by["dense"]["margin"], 10)
    said = "none" if tolerance is None else f"{tolerance:g}"
    words = f"output ({why}): error none vs tolerance {said} (ratio inf, margin none)"
    failures = {c.get("name"): c.find("failure") for c in ET.parse(folder / "junit.xml").getroot().iter("testcase")}
    assert failures["relu[float64,cpu]"].get("type") == kind
    assert failures["relu[float64,cpu]"].get("message").startswith(words)
    assert failures["tanh[float64,cpu]"].get("type") == "tolerance"  # a measured error, over its tolerance
    assert "margin ×0)" in failures["tanh[float64,cpu]"].get("message")  # measured: 1/inf, as report.json says
    md = (folder / "report.md").read_text()
    assert words.replace("[", "\\[").replace("]", "\\]") in md and "(ratio inf, margin ×0)" in md
    html = (folder / "report.html").read_text()
    assert f"error none vs tolerance {said} (ratio inf, margin none)" in html
    assert html.count('<td class="num">none</td>') == (3 if tolerance is None else 2)  # the relu row's
    if kind == "shape":
        assert ">non-finite</text>" not in html and ">no ratio</text>" in html  # the margin plot's band
    back = lockstep.Certificate.read(folder)  # null error and tolerance read back as the Worst written
    assert back.checks[1].worst == _worst(check("output", actual, np.zeros((1, 1)), fixed_rule("float64", 1.0)))
