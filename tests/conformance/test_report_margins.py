"""The margin plot and the report page take any ratio: a failing certification always gets its report."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from lockstep.conformance.report import html_report, margins_svg, write_reports
from lockstep.conformance.results import Certification, CheckResult, Worst

ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1e12, 1e300, 1.7976931348623157e308, 5e-324, 1e-300]),
)
WORST = st.builds(Worst, st.just("step 2 learning rate"), ANY_FLOAT, ANY_FLOAT, ANY_FLOAT)


def _cert(worsts: list[Worst]) -> Certification:
    checks = [CheckResult("sgd", 3, "float32" if i % 2 else "float64", "cpu",
                          "pass" if 0 <= w.ratio <= 1 else "fail", 1, w) for i, w in enumerate(worsts)]
    return Certification(checks=checks, adapter="mutant", adapter_versions={}, spec_version="v1",
                         suite_version="0.1.0", seed=1, examples=1, levels=[3], dtypes=["float32", "float64"],
                         devices=["cpu"], environment={}, seconds=1.0)


@given(st.lists(WORST, min_size=1, max_size=5))
@example([Worst("step 2 learning rate", 1e-3, 1e-15, 1e12)])  # a schedule one step late
@example([Worst("q", 1e300, 1e-8, 1.7976931348623157e308), Worst("q", 0.0, 1e-8, 5e-324)])
@example([Worst("q", 1e300, 1e-4, 5.2e304)])  # its axis would reach 10**320
def test_margins_plot_takes_any_ratio(worsts: list[Worst]) -> None:
    svg = margins_svg(_cert(worsts))
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", f"root {root.tag} for {worsts}"
    for el in root.iter():
        for name in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy"):
            raw = el.get(name)
            assert raw is None or math.isfinite(float(raw)), f"<{el.tag} {name}={raw!r}> for {worsts}"


def test_a_failing_certification_with_huge_ratios_gets_every_report(tmp_path: Path) -> None:
    cert = _cert([Worst("step 2 learning rate", 1e300, 1e-10, 1e308), Worst("output", 1e-7, 1e-6, 0.1)])
    paths = write_reports(cert, tmp_path)
    assert sorted(p.name for p in paths.values()) == ["junit.xml", "report.html", "report.json", "report.md"]
    assert "1e3" in html_report(cert) and paths["html"].read_text().count("<svg") == 1
