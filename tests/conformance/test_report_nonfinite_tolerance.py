"""A worst comparison with a NaN (or inf) where a finite value is due said "tolerance null" in report.json and
"tolerance none" in every other report, as if no tolerance applied, though the element it is at had one to meet:
checks.py kept the placeholder 0. It now keeps that element's tolerance; the error stays unmeasured (null, none),
the ratio inf, and only a shape or a missing name (no element compared) has no tolerance."""

from __future__ import annotations

import json
import math
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import lockstep
from lockstep.conformance.checks import check, check_many, fixed_rule
from lockstep.conformance.pytest_plugin import Suite
from lockstep.conformance.report import _worst_words, report_json_text, write_reports
from lockstep.conformance.results import Certification, CheckResult, Worst
from lockstep.conformance.suite import _worst
from lockstep.reference.tolerances import Tolerance

REFERENCE = np.array([[1.0, -2.0, 4.0]])
RULE = Tolerance(1e-3, np.array([[1e-9, 2e-9, 3e-9]]))  # elementwise: each element's tolerance differs


@pytest.mark.parametrize(("bad", "at"), [(math.nan, 1), (math.inf, 2), (-math.inf, 0)])
def test_a_non_finite_value_keeps_its_element_s_tolerance(bad: float, at: int) -> None:
    actual = REFERENCE.copy()
    actual[0, (at + 1) % 3] += 1.0  # a larger (finite) error elsewhere does not choose the element
    actual[0, at] = bad
    c = check("output", actual, REFERENCE, RULE)
    assert not c.ok and c.why.startswith(f"non-finite ({bad} at index (0, {at})")
    assert (c.error, c.ratio) == (math.inf, math.inf)
    assert c.tolerance == pytest.approx(1e-3 * abs(REFERENCE[0, at]) + RULE.atol[0, at], rel=1e-15)
    assert check_many([("output", actual, REFERENCE, RULE)]) == [c]  # the flat plan says the same


def test_a_non_finite_scalar_and_the_first_of_several() -> None:
    c = check("loss", math.nan, 0.0, fixed_rule("float64", 1.0))
    assert c.tolerance == 1e-12 and c.why == "non-finite (nan; the reference's is 0)"
    two = check("output", np.array([np.nan, np.inf]), np.array([1.0, 100.0]), Tolerance(0.5, 0.0))
    assert two.tolerance == 0.5 and "(nan at index (0,)" in two.why  # the first one's element
    # shapes and missing names compare no element: no tolerance, as before
    assert check("output", np.zeros(2), np.zeros(3), fixed_rule("float64", 1.0)).tolerance == 0.0


def test_every_report_says_the_tolerance_a_non_finite_value_had(tmp_path: Path) -> None:
    c = check("output", np.full((1, 1), np.nan), np.zeros((1, 1)), fixed_rule("float64", 1.0))
    w = _worst(c)
    result = CheckResult("relu", 1, "float64", "cpu", "fail", examples=1, worst=w, message=c.describe())
    cert = Certification(adapter="a", adapter_versions={}, spec_version="lockstep/v1", suite_version="1.0.0", seed=0,
                         examples=1, levels=[1], dtypes=["float64"], devices=["cpu"], environment={},
                         checks=[result])
    folder = tmp_path / "r"
    write_reports(cert, folder)
    quantity = "output (non-finite (nan at index (0, 0); the reference's is 0))"
    assert json.loads((folder / "report.json").read_text())["checks"][0]["worst"] == {
        "quantity": quantity, "error": None, "tolerance": 1e-12, "ratio": "inf", "margin": None}
    words = f"{quantity}: error none vs tolerance 1e-12 (ratio inf, margin none)"
    failure = next(ET.parse(folder / "junit.xml").getroot().iter("testcase")).find("failure")
    assert failure.get("type") == "non-finite" and failure.get("message").startswith(words)
    assert words.replace("[", "\\[").replace("]", "\\]") in (folder / "report.md").read_text()
    html = (folder / "report.html").read_text()
    assert words in html and html.count('<td class="num">none</td>') == 2  # the error and the margin
    assert lockstep.Certificate.read(folder).checks[0].worst == w  # read back as written
    fake = SimpleNamespace(segment="a on float64/cpu", failures_abs=tmp_path, written_abs=tmp_path)
    fake._kept = lambda r: Suite._kept(fake, r)  # describe's own helper, on the fake
    fake.by_check = {}
    text = Suite.describe(fake, result)  # the pytest plugin's failure text
    assert f"worst:                    {quantity}: error none, tolerance 1e-12, margin none" in text, text


ANY = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e-300, 5e-324, 1e300]))


@settings(max_examples=300, deadline=None)
@given(error=ANY, tolerance=ANY, ratio=ANY)
@example(error=math.nan, tolerance=0.0, ratio=math.inf)
@example(error=math.inf, tolerance=1e-12, ratio=math.inf)
@example(error=1e300, tolerance=1e-300, ratio=math.inf)
def test_any_worst_reads_back_as_every_report_said_it(error: float, tolerance: float, ratio: float) -> None:
    """report.json's nulls read back (Certificate.read) as a worst the reports say alike: an error NaN against a
    tolerance of 0 said tolerance 0 and read back as no tolerance."""
    w = Worst("q", error, tolerance, ratio)
    cert = Certification(adapter="a", adapter_versions={}, spec_version="lockstep/v1", suite_version="1.0.0", seed=0,
                         examples=1, levels=[1], dtypes=["float64"], devices=["cpu"], environment={},
                         checks=[CheckResult("relu", 1, "float64", "cpu", "fail", examples=1, worst=w)])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "report.json").write_text(report_json_text(cert))
        back = lockstep.Certificate.read(tmp).checks[0].worst
    assert back is not None and _worst_words(back) == _worst_words(w), (w, back)
