"""A certificate says how the adapter ran each check (`CheckResult.execution`, from the sessions the suite built):
the suite hints every generated case's session that it serves a few calls (levels 1-3), the example recipes'
sessions (level 4) get no hint; TensorFlow runs the first eagerly and compiles the second, and report.json,
report.md, report.html and the terminal summary say so. An adapter whose sessions state nothing shows nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockstep.conformance import suite
from lockstep.conformance.report import summary_table, write_reports
from lockstep.conformance.results import Certification, CheckResult


def _certify(name: str, constructs: tuple[str, ...], levels: tuple[int, ...]) -> Certification:
    from lockstep.adapters.registry import get

    adapter = get(name)
    options = suite.Options(levels=levels, dtypes=("float64",), devices=("cpu",), examples=2, seed=0,
                            constructs=constructs, recipe_steps=2)
    return suite.certify(adapter, name, options)


def test_tensorflow_certificate_says_eager_for_cases_and_compiled_for_recipes(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    cert = _certify("tensorflow", ("relu", "sgd", "inline-model"), (1, 2, 3, 4))
    ran = {c.name: c.execution for c in cert.checks}
    assert ran == {"relu.predictions.float64.cpu": "eager", "relu.gradients.float64.cpu": "eager",
                   "sgd.updates.float64.cpu": "eager", "inline-model.recipes.float64.cpu": "compiled"}, ran
    assert cert.execution_counts() == {"eager": {1: 1, 2: 1, 3: 1}, "compiled": {4: 1}}, cert.execution_counts()
    words = "execution: eager at levels 1, 2, 3 (3 checks) · compiled at level 4 (1 check)"
    assert words in summary_table(cert, width=200), summary_table(cert, width=200)
    paths = write_reports(cert, tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert {c["execution"] for c in doc["checks"]} == {"eager", "compiled"}, doc["checks"]
    md = paths["markdown"].read_text()
    assert "| execution | eager at levels 1, 2, 3 (3 checks) · compiled at level 4 (1 check) |" in md, md[:800]
    html = paths["html"].read_text()
    assert "<th>execution</th><td>eager at levels 1, 2, 3 (3 checks) · compiled at level 4 (1 check)</td>" in html
    assert "<td>compiled</td>" in html and "<td>eager</td>" in html, "the all-checks table shows each check's mode"


def test_compile_always_certifies_the_compiled_graphs(monkeypatch) -> None:
    pytest.importorskip("tensorflow")
    from lockstep.adapters.tensorflow import session as tf_session

    monkeypatch.setattr(tf_session, "COMPILE_ALWAYS", True)
    cert = _certify("tensorflow", ("relu",), (1,))
    assert [c.execution for c in cert.checks] == ["compiled"], [(c.name, c.execution) for c in cert.checks]


def test_an_adapter_that_states_no_mode_shows_none(tmp_path: Path) -> None:
    cert = _certify("reference", ("relu",), (1, 2))
    assert [c.execution for c in cert.checks] == ["", ""], [(c.name, c.execution) for c in cert.checks]
    assert cert.execution_counts() == {}
    assert "execution" not in summary_table(cert), summary_table(cert)
    paths = write_reports(cert, tmp_path)
    assert "| execution |" not in paths["markdown"].read_text()


def test_execution_round_trips_through_json_and_old_certificates_read() -> None:
    result = CheckResult("relu", 1, "float32", "cpu", "pass", 3, execution="eager")
    assert CheckResult.from_json(result.to_json()) == result
    old = result.to_json()
    del old["execution"]  # a certificate written before the field existed
    assert CheckResult.from_json(old).execution == ""
