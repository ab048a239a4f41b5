"""A csv class index is read as a float64, as every cell is: 9223372036854775807 (2**63 - 1) becomes 2**63, which
no int64 holds. It was refused as "not a class index (an integer from 0 to 2**63 - 1)", a range it seemed to be in;
the message now says what the cell became and the largest index a cell can hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.cli import main
from lockstep.spec.semantics.data import LARGEST_CSV_CLASS, csv_row

MODEL = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs: [{name: x, shape: [2]}]
layers: [{type: dense, units: 2}]
"""
RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: r}
model: model.yaml
seed: 1
dtype: float64
data:
  source: {type: csv, path: d.csv, target: y, header: true, target_type: class_index}
  batch_size: 2
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer: {type: sgd, learning_rate: 0.1}
training: {steps: 1}
"""


def test_the_largest_csv_class_index_is_the_largest_float64_below_2_63() -> None:
    assert LARGEST_CSV_CLASS == 2**63 - 1024 == int(float(LARGEST_CSV_CLASS))
    assert csv_row(["1", str(LARGEST_CSV_CLASS)], 2, [], 1, "class_index")[1] == LARGEST_CSV_CLASS
    with pytest.raises(ValueError) as got:
        csv_row(["1", str(2**63 - 1)], 2, [], 1, "class_index")
    said = str(got.value)
    assert "is 9223372036854775808" in said and "2**63 - 1024" in said and "2**63 - 1)" not in said, said
    with pytest.raises(ValueError, match=r"target `-1` is not a class index \(an integer from 0 to 2\*\*63 - 1024"):
        csv_row(["1", "-1"], 2, [], 1, "class_index")


def test_validate_and_run_say_what_the_cell_became(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "d.csv").write_text("a,b,y\n1,1,0\n1,0,1\n1,1,9223372036854775807\n0,0,0\n")
    words = ("`d.csv`:4: target `9223372036854775807` is not a class index: read as a float64, as every cell is, "
             "it is 9223372036854775808 (an integer from 0 to 2**63 - 1024, the largest float64 below 2**63)")
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == 1
    out = capsys.readouterr().out
    assert words in out, out
    assert main(["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err, err
