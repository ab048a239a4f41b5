"""`lockstep compare`'s arguments and outputs (sweep V): empty backend names, --overwrite of files no comparison
wrote, the plot's edges, an adapter that raises mid-run, and the arguments recorded in compare.json."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from lockstep.cli import main

RECIPE = """\
apiVersion: lockstep/v1
kind: Recipe
metadata: {name: tiny}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs:
    - {name: x, shape: [4]}
  layers:
    - {type: dense, name: hidden, units: 8}
    - {type: relu}
    - {type: dense, name: out, units: 2}
seed: 1
dtype: float64
data:
  source: {type: synthetic_regression, num_samples: 64, shape: [4], targets: 2, noise: 0.1}
  batch_size: 16
loss: {type: mse}
optimizer: {type: adam, learning_rate: 0.01}
training: {steps: 6}
"""

SAME = "lockstep.conformance.mutants._base:MutantAdapter"  # the reference under another name: agrees


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


@pytest.mark.parametrize("backends", [f"reference,{SAME},", f"reference,,{SAME}", f",reference,{SAME}"])
def test_an_empty_backend_name_is_refused(recipe: Path, backends: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--backends "reference,torch,$EXTRA"` with EXTRA unset compared two backends without a word."""
    assert main(["compare", str(recipe), "--backends", backends, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "an empty name" in err and "--backends" in err and len(err.strip().splitlines()) == 1, err
