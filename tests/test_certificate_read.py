"""`Certificate.read` of a report.json whose `checks` no certify wrote: a LockstepError naming the entry and field,
never a bare AttributeError on read or a KeyError later in `counts()` or `.name`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lockstep
from lockstep.conformance.report import write_reports
from lockstep.conformance.results import Certification, CheckResult, Worst


def _report(tmp_path: Path) -> dict[str, Any]:
    checks = [CheckResult(construct, level, "float64", "cpu", "pass", examples=2,
                          worst=Worst("output", 0.0, 1e-12, 0.0), support="native: x", provenance="native")
              for construct in ("dense", "relu") for level in (1, 2)]
    cert = Certification(adapter="a", adapter_versions={"a": "1"}, spec_version="lockstep/v1", suite_version="1.0.0",
                         seed=0, examples=2, levels=[1, 2], dtypes=["float64"], devices=["cpu"], environment={},
                         checks=checks, seconds=0.5)
    write_reports(cert, tmp_path / "r")
    return json.loads((tmp_path / "r" / "report.json").read_text())


def test_an_untouched_report_reads(tmp_path: Path) -> None:
    _report(tmp_path)
    cert = lockstep.Certificate.read(tmp_path / "r")
    assert cert.counts()["pass"] == 4 and [c.name for c in cert.checks][3] == "relu.gradients.float64.cpu"


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d["checks"].__setitem__(3, []), "checks[3]: expected an object, got list"),
    (lambda d: d["checks"][3].__setitem__("outcome", "bogus"), "checks[3].outcome: expected pass, fail, "
                                                                "unsupported or error, got 'bogus'"),
    (lambda d: d["checks"][3].__setitem__("level", "two"), "checks[3].level: expected one of 1, 2, 3, 4, 5, "
                                                            "got 'two'"),
    (lambda d: d["checks"][3].__setitem__("level", 9), "checks[3].level"),
    (lambda d: d["checks"][3].__setitem__("level", True), "checks[3].level"),
    (lambda d: d["checks"][3].__setitem__("construct", None), "checks[3].construct: expected text"),
    (lambda d: d["checks"][3].__setitem__("worst", [1]), "checks[3].worst: expected an object, got list"),
    (lambda d: d.__setitem__("checks", {}), "checks: expected a list, got dict"),
    # read, then raised in to_json or the counts (sweep 2026-12-07)
    (lambda d: d.__setitem__("levels", {"9": "x"}), "levels: expected an object keyed by level numbers"),
    (lambda d: d.__setitem__("levels", "12"), "levels: expected an object keyed by level numbers"),
    (lambda d: d.__setitem__("levels", {"01": "predictions"}), "levels: expected an object keyed by level numbers"),
    (lambda d: d["checks"][0].__setitem__("examples", None), "checks[0].examples: expected int, got None"),
    (lambda d: d["checks"][0].__setitem__("examples", True), "checks[0].examples: expected int, got True"),
    (lambda d: d["checks"][0].__setitem__("provenance", []), "checks[0].provenance: expected str or null, got []"),
    (lambda d: d["checks"][0].__setitem__("execution", [1]), "checks[0].execution: expected str, got [1]"),
    (lambda d: d["checks"][0].__setitem__("blind_quantities", []), "checks[0].blind_quantities: expected dict"),
])
def test_a_check_no_certify_writes_is_refused_on_read(tmp_path: Path, edit: Any, words: str) -> None:
    data = _report(tmp_path)
    edit(data)
    (tmp_path / "r" / "report.json").write_text(json.dumps(data))
    with pytest.raises(lockstep.LockstepError) as exc:
        cert = lockstep.Certificate.read(tmp_path / "r")
        cert.counts(), [c.name for c in cert.checks]  # where the bare KeyError came out before
    text = str(exc.value)
    assert "is not a certification report: " in text and words in text, text
