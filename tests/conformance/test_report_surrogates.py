"""report.json kept a lone surrogate of an adapter's versions() (`"sur\\udcffkey"`), no Unicode text a JSON reader
accepts, while report.md, report.html and junit.xml showed U+FFFD: report.json now says it the same way."""

from __future__ import annotations

import json
from pathlib import Path

from lockstep.conformance.report import write_reports
from lockstep.conformance.results import Certification, CheckResult, Worst


def test_report_json_replaces_lone_surrogates_as_the_other_reports_do(tmp_path: Path) -> None:
    check = CheckResult("dense", 1, "float64", "cpu", "pass", examples=2, worst=Worst("output", 0.0, 1e-12, 0.0),
                        support="native: x", provenance="native")
    cert = Certification(adapter="a", adapter_versions={"sur\udcffkey": "v\ud800al"}, spec_version="lockstep/v1",
                         suite_version="1.0.0", seed=0, examples=2, levels=[1], dtypes=["float64"], devices=["cpu"],
                         environment={"env\udcfe": "x"}, checks=[check], seconds=0.5)
    write_reports(cert, tmp_path / "r")
    raw = (tmp_path / "r" / "report.json").read_bytes()
    data = json.loads(raw.decode("utf-8"))
    assert data["adapter_versions"] == {"sur\ufffdkey": "v\ufffdal"}
    assert data["environment"]["env\ufffd"] == "x"
    text = json.dumps(data, ensure_ascii=False)
    text.encode("utf-8")  # strict: a lone surrogate would raise UnicodeEncodeError
    for name in ("report.md", "report.html", "junit.xml"):
        shown = (tmp_path / "r" / name).read_text(encoding="utf-8")
        assert "sur\ufffdkey" in shown, name
