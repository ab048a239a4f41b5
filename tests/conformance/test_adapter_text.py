"""An adapter's exception text in every report: whatever characters it holds, the check is an `error` naming the
adapter's exception, and the four reports and the failure folder are written, saying the same thing.

The adapter is the reference-based MutantAdapter whose optimizer step raises a RuntimeError naming a file whose
name is not UTF-8 (`os.fsdecode` makes the byte 0xe9 a lone surrogate, which no file can hold), with an escape
sequence, a bell and a NUL after it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lockstep import api
from lockstep.cli import main

ADAPTER = '''
import os

from lockstep.conformance.mutants._base import MutantAdapter, MutantSession


class _Session(MutantSession):
    def optimizer_step(self, *args, **kwargs):
        raise RuntimeError("cannot read " + os.fsdecode(b"/data/caf\\xe9.npz") + " \\x1b[31mred\\x07\\x00 end")


class SurrogateSGD(MutantAdapter):
    name = "surrogate-sgd"
    session_class = _Session
'''

SAID = "RuntimeError: cannot read /data/caf\\xe9.npz"  # the byte kept as a backslash escape


@pytest.fixture
def adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The adapter's module, importable here and in worker processes."""
    (tmp_path / "text_pkg.py").write_text(ADAPTER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "text_pkg:SurrogateSGD"


def _check_reports(folder: Path) -> dict:
    """The four reports and the failure folder: written, parsed, naming the adapter's exception alike."""
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    sgd = next(c for c in report["checks"] if c["construct"] == "sgd")
    assert sgd["outcome"] == "error" and sgd["message"].startswith(SAID), sgd
    assert sgd["examples"] >= 1 and sgd["provenance"] == "written" and sgd["support"], sgd
    ET.parse(folder / "junit.xml")
    for name in ("report.md", "report.html", "junit.xml"):
        assert "caf\\xe9.npz" in (folder / name).read_text(encoding="utf-8"), name
    failure = folder / sgd["failure_dir"]
    assert SAID in (failure / "README.md").read_text(encoding="utf-8")
    assert json.loads((failure / "case.json").read_text(encoding="utf-8"))["check"] == "sgd.updates.float64.cpu"
    assert sorted(p.name for p in (folder / "failures").iterdir()) == [Path(sgd["failure_dir"]).name]
    return report


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_surrogate_in_an_adapters_message_is_its_checks_error(adapter: str, jobs: int, tmp_path: Path) -> None:
    """Before: an internal error (UnicodeEncodeError) and no report with one process; with workers, the check's
    error was the UnicodeEncodeError instead of the adapter's RuntimeError, and an empty failure folder was left."""
    api.certify(adapter, constructs="sgd,relu", levels="2,3", dtypes="float64", examples=2, jobs=jobs,
                report=tmp_path / "r", log=lambda _m: None)
    _check_reports(tmp_path / "r")


def test_cli_a_surrogate_in_an_adapters_message_is_exit_1_with_reports(adapter: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["certify", "--adapter", adapter, "--construct", "sgd", "--dtype", "float64", "--examples", "2",
                 "--jobs", "1", "-q", "--report", str(tmp_path / "r")])
    out = capsys.readouterr()
    assert code == 1, out
    assert f"ERROR sgd.updates.float64.cpu: {SAID}" in out.out and "internal error" not in out.err
    _check_reports(tmp_path / "r")


def test_an_errors_failure_folder_says_an_error_in_the_reports_characters(adapter: str, tmp_path: Path) -> None:
    """Before: the README of an error said "diverges from the reference" and "First diverging quantity:
    RuntimeError...", and it and the recipe's comment carried the message's ESC, BEL and NUL raw (a recipe.yaml
    holding a NUL is no YAML: the reproducer did not load)."""
    cert = api.certify(adapter, constructs="sgd", dtypes="float64", examples=2, jobs=1, report=tmp_path / "r",
                       log=lambda _m: None)
    (check,) = cert.checks
    folder = tmp_path / "r" / check.failure_dir
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# sgd.updates.float64.cpu: text_pkg:SurrogateSGD raised an error\n"), readme
    assert f"\nError: {SAID} \ufffd[31mred\ufffd\ufffd end\n" in readme, readme
    assert "diverg" not in readme.split("Reproduce:")[0], readme
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "\ufffd[31mred\ufffd\ufffd end" in md  # the README replaces what report.md replaces, alike
    for name in ("README.md", "recipe.yaml", "model.yaml"):
        text = (folder / name).read_text(encoding="utf-8")
        assert not {"\x1b", "\x07", "\x00"} & set(text), name
    assert (folder / "recipe.yaml").read_text(encoding="utf-8").startswith(
        f"# lockstep certify: text_pkg:SurrogateSGD raises an error in sgd.updates.float64.cpu: {SAID} ")
    assert api.validate(folder / "recipe.yaml").ok  # the reproducer loads
