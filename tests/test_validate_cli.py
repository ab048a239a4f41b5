"""`lockstep validate` as users run it: exit codes, formats, no tracebacks, no framework imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from lockstep.cli import main

ROOT = Path(__file__).resolve().parents[1]

GOOD = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs: [{name: x, shape: [4]}]
layers:
  - {type: dense, units: 3}
"""

BAD = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: r}
model: m.yaml
seed: 0
data:
  source: {type: synthetic_classification, num_samples: 10, shape: [4], num_classes: 3}
  batch_size: 2
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer:
  type: adam
  lr: 0.1
training: {steps: 3}
"""


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "m.yaml").write_text(GOOD)
    (tmp_path / "r.yaml").write_text(BAD)
    return tmp_path


def test_examples_are_valid(capsys) -> None:
    assert main(["validate", str(ROOT / "examples")]) == 0
    assert "valid" in capsys.readouterr().out


def test_text_error_has_line_path_and_suggestion(folder: Path, capsys) -> None:
    assert main(["validate", str(folder / "r.yaml")]) == 1
    out = capsys.readouterr().out
    assert f"{folder / 'r.yaml'}:12:3: optimizer.lr: unknown field `lr`" in out
    assert "did you mean `learning_rate`?" in out


def test_json_format(folder: Path, capsys) -> None:
    assert main(["validate", "--format", "json", str(folder)]) == 1
    errs = json.loads(capsys.readouterr().out)
    assert {"file", "line", "column", "path", "message"} <= set(errs[0])
    assert errs[0]["line"] == 12 and errs[0]["path"] == "optimizer.lr"


def test_github_format(folder: Path, capsys) -> None:
    main(["validate", "--format", "github", str(folder / "r.yaml")])
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("::error file=") and ",line=12,col=3," in line


def test_junit_format(folder: Path, capsys) -> None:
    main(["validate", "--format", "junit", str(folder)])
    suite = ElementTree.fromstring(capsys.readouterr().out)
    assert suite.get("tests") == "2" and suite.get("failures") == "1"


def test_glob_and_missing_paths(folder: Path, capsys) -> None:
    assert main(["validate", str(folder / "m*.yaml")]) == 0
    assert main(["validate", str(folder / "nope.yaml")]) == 2
    assert main(["validate", str(folder / "*.nothing")]) == 2
    empty = folder / "empty"
    empty.mkdir()
    assert main(["validate", str(empty)]) == 2


def test_usage_error_exit_2(capsys) -> None:
    assert main(["validate"]) == 2
    assert main(["validate", "--format", "xml", "x"]) == 2


def test_unknown_version_and_kind(tmp_path: Path, capsys) -> None:
    (tmp_path / "v.yaml").write_text("apiVersion: lockstep/v9\nkind: Modle\nmetadata: {name: a}\n")
    assert main(["validate", str(tmp_path / "v.yaml")]) == 1
    out = capsys.readouterr().out
    assert "unknown spec version `lockstep/v9`" in out and "lockstep/v1" in out
    assert "unknown kind `Modle`" in out and "did you mean `Model`?" in out


def test_no_framework_imported() -> None:
    code = ("import sys\nfrom lockstep.cli import main\nmain(['validate', '-q', {!r}])\n"
            "bad = [m for m in ('torch', 'tensorflow', 'onnxruntime', 'keras') if m in sys.modules]\n"
            "print(bad)\n").format(str(ROOT / "examples"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_python_dash_m_runs(folder: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "lockstep", "validate", str(folder / "r.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
