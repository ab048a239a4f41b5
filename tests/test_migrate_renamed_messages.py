"""A problem `lockstep migrate` finds on a renamed field says the name the file has, not only the new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.cli import main

RECIPE = """apiVersion: lockstep/v1alpha1
kind: Recipe
metadata: {name: r}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [4]}]
  layers: [{type: dense, units: 2}]
seed: 1
data:
  source: {type: synthetic, generator: regression, samples: 8, outputs: 2}
  batch_size: 4
loss: {type: mse}
optimizer: {type: sgd, lr: -0.1}
clip_norm: -1.0
training: {steps: 1}
"""


@pytest.mark.parametrize("check", [False, True])
def test_a_renamed_field_is_said_by_its_old_name(check: bool, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    assert main(["migrate", *(["--check"] if check else []), str(tmp_path / "r.yaml")]) == 1
    err = capsys.readouterr().err
    assert "r.yaml:16:12: gradient_clipping.max_norm:" in err and "(written as `clip_norm` before migration)" in err
    assert "optimizer.learning_rate:" in err and "(written as `optimizer.lr` before migration)" in err
