"""A ratio that overflowed to inf on a measured error (1e300 against a tolerance of 1e-300; an optimizer's step
count one off, against a tolerance of 0) had margin 0.0 in report.json while report.md, report.html, junit.xml and
the pytest failure text said "margin non-finite". Every report now states the margin by one rule
(report.margin_of, docs/conformance.md "Reports"): 1/ratio, ×∞ at ratio 0, ×0 at an inf ratio of a measured
error, none where no error was measured."""

from __future__ import annotations

import html
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import lockstep
from lockstep.conformance.pytest_plugin import Suite
from lockstep.conformance.report import fmt_margin, fmt_ratio, report_json_text, write_reports
from lockstep.conformance.results import Certification, CheckResult, Worst

CASES = [  # (worst, report.json's margin, the others' margin)
    (Worst("output", 1e300, 1e-300, math.inf), 0.0, "×0"),  # a finite error, its ratio overflowed
    (Worst("step 1 optimizer step count 2 (reference 1)", 1.0, 0.0, math.inf), 0.0, "×0"),  # against tolerance 0
    (Worst("output", 2.0, 1.0, 2.0), 0.5, "×0.5"),
    (Worst("output", 1.0, 1.0, 1.0004), 1 / 1.0004, "×0.9996"),  # a failure never reads as ×1
    (Worst("output", 1.0, 1e-5, 5e-324), "inf", "×∞"),  # 1/ratio overflows: as an error of 0
    (Worst("output", 0.0, 1e-5, 0.0), "inf", "×∞"),
    (Worst("output", 0.0, 0.0, math.nan), None, "none"),  # no ratio: no margin
    (Worst("output (non-finite (nan; the reference's is 1))", math.inf, 1e-12, math.inf), None, "none"),
    (Worst("output (shape [2], the reference's [3])", math.inf, 0.0, math.inf), None, "none"),
]


def _said(text: str) -> str:
    found = re.findall(r"margin (×[^\s),]+|none)", text)
    assert len(found) == 1, text
    return found[0]


@pytest.mark.parametrize(("worst", "stored", "shown"), CASES)
def test_every_report_states_one_margin(tmp_path: Path, worst: Worst, stored: float | str | None,
                                        shown: str) -> None:
    result = CheckResult("sgd", 3, "float64", "cpu", "fail", examples=1, worst=worst, message="diverged")
    cert = Certification(adapter="a", adapter_versions={}, spec_version="lockstep/v1", suite_version="1.0.0", seed=0,
                         examples=1, levels=[3], dtypes=["float64"], devices=["cpu"], environment={},
                         checks=[result])
    folder = tmp_path / "r"
    write_reports(cert, folder)
    margin = json.loads((folder / "report.json").read_text())["checks"][0]["worst"]["margin"]
    assert margin == pytest.approx(stored) if isinstance(stored, float) else margin == stored
    # one rule: what report.json stores is what the others say
    assert shown == ("none" if margin is None else "×∞" if margin == "inf" else "×" + fmt_ratio(float(margin)))
    md = (folder / "report.md").read_text()
    assert _said(next(line for line in md.splitlines() if "(ratio " in line)) == shown
    case = next(ET.parse(folder / "junit.xml").getroot().iter("testcase"))
    assert _said(case.find("failure").get("message")) == shown
    page = html.unescape((folder / "report.html").read_text())
    assert f"margin {shown})" in page and f'<td class="num">{shown}</td>' in page
    fake = SimpleNamespace(segment="a on float64/cpu", failures_abs=tmp_path, written_abs=tmp_path)
    fake._kept = lambda r: Suite._kept(fake, r)  # describe's own helper, on the fake
    fake.by_check = {}
    assert _said(next(x for x in Suite.describe(fake, result).splitlines() if "worst:" in x)) == shown
    assert fmt_margin(lockstep.Certificate.read(folder).checks[0].worst) == shown  # read back, the same again


ANY = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e-300, 5e-324, 1e300]))


@settings(max_examples=300, deadline=None)
@given(error=ANY, tolerance=ANY, ratio=ANY)
@example(error=1e300, tolerance=1e-300, ratio=math.inf)
@example(error=1.0, tolerance=0.0, ratio=math.inf)
@example(error=0.0, tolerance=0.0, ratio=math.nan)
def test_report_json_stores_the_margin_the_others_say(error: float, tolerance: float, ratio: float) -> None:
    w = Worst("q", error, tolerance, ratio)
    cert = Certification(adapter="a", adapter_versions={}, spec_version="lockstep/v1", suite_version="1.0.0", seed=0,
                         examples=1, levels=[3], dtypes=["float64"], devices=["cpu"], environment={},
                         checks=[CheckResult("sgd", 3, "float64", "cpu", "fail", examples=1, worst=w)])
    margin = json.loads(report_json_text(cert))["checks"][0]["worst"]["margin"]
    assert fmt_margin(w) == ("none" if margin is None else "×∞" if margin == "inf" else "×" + fmt_ratio(margin)), w
