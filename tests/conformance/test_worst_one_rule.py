"""`Certification.to_json` and `CheckResult.to_json` (what pytest-xdist's workers send the controller) stated a
worst's margin as the raw 1/ratio ("nan" where the error was NaN, 0 or "inf" where no error was measured) and its
placeholder error and tolerance as numbers, while report.json said them by `report.margin_of` (null). The rule now
lives on `Worst` (`margin`, `no_error`, `unmeasured`, `to_json`, `from_json`), so the three cannot disagree: this
checks it over odd worsts (0, inf, NaN, ties, 5e-324, 1e308 against 1e-300)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import lockstep
from lockstep.conformance.report import fmt_error, fmt_margin, fmt_ratio, fmt_tolerance, report_json_text, write_reports
from lockstep.conformance.results import Certification, CheckResult, Worst

ODD = st.one_of(st.sampled_from([0.0, -0.0, 1.0, math.inf, -math.inf, math.nan, 5e-324, 1e308, 1e-300, 1e300]),
                st.floats(allow_nan=True, allow_infinity=True))


@st.composite
def worsts(draw: st.DrawFn) -> Worst:
    error, tolerance = draw(ODD), draw(ODD)
    if draw(st.booleans()):  # the ratio as checks.py computes it, ties (error == tolerance) included
        tolerance = error if draw(st.booleans()) else tolerance
        with np.errstate(all="ignore"):
            ratio = float(np.float64(error) / np.float64(tolerance))
    else:
        ratio = draw(ODD)
    return Worst(draw(st.sampled_from(["output", "output (shape [2], the reference's [3])"])), error, tolerance,
                 ratio)


def _cert(*ws: Worst) -> Certification:
    return Certification(adapter="a", adapter_versions={}, spec_version="lockstep/v1", suite_version="1.0.0", seed=0,
                         examples=1, levels=[3], dtypes=["float64"], devices=["cpu"], environment={},
                         checks=[CheckResult(f"c{i}", 3, "float64", "cpu", "fail", examples=1, worst=w,
                                             message="diverged") for i, w in enumerate(ws)])


def _said(w: Worst) -> tuple[str, str, str]:
    return fmt_error(w), fmt_tolerance(w), fmt_margin(w)


@settings(max_examples=400, deadline=None)
@given(ws=st.lists(worsts(), min_size=1, max_size=3))
@example(ws=[Worst("output", math.nan, 1e-12, math.nan)])  # "nan" margin in to_json, null in report.json
@example(ws=[Worst("output (non-finite (nan; the reference's is 1))", math.inf, 1e-12, math.inf)])
@example(ws=[Worst("output (shape [2], the reference's [3])", math.inf, 0.0, math.inf)])
@example(ws=[Worst("output", 1e308, 1e-300, math.inf), Worst("output", 1.0, 1.0, 1.0)])
@example(ws=[Worst("output", 1e-300, 1e-5, 5e-324), Worst("output", 0.0, 0.0, 0.0)])
def test_to_json_transfer_and_report_json_say_one_thing(ws: list[Worst]) -> None:
    cert = _cert(*ws)
    api = json.loads(json.dumps(cert.to_json(), allow_nan=False))  # lockstep.certify(...).to_json(), strict JSON
    assert json.loads(report_json_text(cert)) == api  # report.json: the same text
    for c, d in zip(cert.checks, api["checks"], strict=True):
        w, said = c.worst, d["worst"]
        # the margin as stored is the margin the other reports say
        margin = said["margin"]
        assert fmt_margin(w) == ("none" if margin is None else "×∞" if margin == "inf"
                                 else "×" + fmt_ratio(float(margin))), (w, said)
        assert (said["error"] is None) == (fmt_error(w) == "none")
        assert (said["tolerance"] is None) == (fmt_tolerance(w) == "none")
        # pytest-xdist's transfer: the worker's to_json, read back by the controller, says what the worker's did
        sent = CheckResult.from_json(json.loads(json.dumps(c.to_json(), allow_nan=False)))
        assert _said(sent.worst) == _said(w)
        assert sent.worst.ratio == w.ratio or (math.isnan(w.ratio) and math.isnan(sent.worst.ratio))
        assert sent.to_json() == c.to_json()
        assert json.loads(report_json_text(_cert(sent.worst)))["checks"][0]["worst"] == said


def test_a_certificate_reads_back_what_to_json_wrote(tmp_path: Path) -> None:
    ws = [Worst("output", math.nan, 1e-12, math.nan), Worst("output", 1e308, 1e-300, math.inf),
          Worst("output (shape [2], the reference's [3])", math.inf, 0.0, math.inf),
          Worst("output", 1e-300, 1e-5, 5e-324)]
    cert = _cert(*ws)
    write_reports(cert, tmp_path)
    read = lockstep.Certificate.read(tmp_path)
    assert [_said(c.worst) for c in read.checks] == [_said(w) for w in ws]
    assert [c.worst.to_json() for c in read.checks] == [d["worst"] for d in cert.to_json()["checks"]]
    assert [d["worst"]["margin"] for d in cert.to_json()["checks"]] == [None, 0.0, None, "inf"]
