"""Version migration: the registry and `lockstep migrate`."""

from __future__ import annotations

from pathlib import Path

from lockstep.cli import main
from lockstep.spec.loader import load_file
from lockstep.spec.migrations import CURRENT, migrate

OLD = """apiVersion: lockstep/v1alpha1
kind: Recipe
metadata: {name: old}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [3]}]
  layers: [{type: dense, units: 1}]
seed: 0
data:
  source: {type: synthetic_regression, num_samples: 16, shape: [3]}
  batch_size: 4
loss: {type: mse}
optimizer: {type: sgd, lr: 0.1}
clip_norm: 1.0
training: {steps: 2}
"""


def test_registry_rewrites_old_fields() -> None:
    data = load_file_text(OLD)
    new = migrate(data)
    assert new["apiVersion"] == CURRENT
    assert new["optimizer"] == {"type": "sgd", "learning_rate": 0.1}
    assert new["gradient_clipping"] == {"type": "global_norm", "max_norm": 1.0}
    assert data["apiVersion"] == "lockstep/v1alpha1"  # the input is not modified


def load_file_text(text: str) -> dict:
    from lockstep.spec.loader import load_text

    return load_text(text, "old.yaml")[0].data


def test_old_version_validates_through_migration(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(OLD)
    assert main(["validate", str(tmp_path / "old.yaml")]) == 0


def test_migrate_command_check_and_write(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(OLD)
    assert main(["migrate", "--check", str(path)]) == 1
    assert path.read_text() == OLD
    assert main(["migrate", str(path)]) == 0
    (doc,) = load_file(path)
    assert doc.data["apiVersion"] == CURRENT and doc.data["optimizer"]["learning_rate"] == 0.1
    assert main(["migrate", str(path)]) == 0
    assert "already" in capsys.readouterr().out
    assert main(["migrate", str(tmp_path / "missing.yaml")]) == 2
