"""Data preparation: determinism, split, preprocessing, step -> batch mapping, files and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockstep.reference.data import DataError, prepare
from lockstep.spec.documents import Recipe


def recipe(source: dict, **data) -> Recipe:
    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "r"}, "model": "m.yaml", "seed": 3,
        "data": {"source": source, "batch_size": 8, **data},
        "loss": {"type": "sparse_categorical_crossentropy", "from_logits": True},
        "optimizer": {"type": "sgd", "learning_rate": 0.1}, "training": {"steps": 5}})


SYN = {"type": "synthetic_classification", "num_samples": 50, "shape": [3], "num_classes": 2}


def test_deterministic_and_split() -> None:
    a = prepare(recipe(SYN, split={"validation": 0.2}), Path("."))
    b = prepare(recipe(SYN, split={"validation": 0.2}), Path("."))
    assert np.array_equal(a.x_train, b.x_train) and len(a.x_train) == 40 and len(a.x_eval) == 10
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64


def test_batches_are_a_function_of_the_step() -> None:
    d = prepare(recipe(SYN), Path("."))
    assert d.steps_per_epoch == 7  # ceil(50 / 8), last batch partial
    e, x, _ = d.batch(6)
    assert e == 0 and len(x) == 2
    e, x2, _ = d.batch(7)
    assert e == 1 and not np.array_equal(x2, d.batch(0)[1])  # a new order each epoch
    assert np.array_equal(d.batch(9)[1], d.batch(9)[1])
    seen = np.concatenate([d.batch(s)[1] for s in range(7)])
    assert sorted(map(tuple, seen)) == sorted(map(tuple, d.x_train))  # an epoch visits every sample once


def test_standardize_uses_training_statistics() -> None:
    d = prepare(recipe(SYN, preprocessing=[{"type": "standardize"}], split={"validation": 0.3}), Path("."))
    assert np.allclose(d.x_train.mean(axis=0), 0, atol=1e-6) and np.allclose(d.x_train.std(axis=0), 1, atol=1e-5)


def test_csv_and_npz(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n")
    d = prepare(recipe({"type": "csv", "path": "d.csv", "target": "label"}, batch_size=2), tmp_path)
    assert d.x_train.shape == (3, 2) and sorted(d.y_train.tolist()) == [0, 0, 1]
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=np.zeros(4))
    d = prepare(recipe({"type": "npz", "path": "d.npz"}), tmp_path)
    assert d.x_train.shape == (4, 3)


@pytest.mark.parametrize("text,message", [
    ("a,b,label\n1,2,0\n3,x,1\n", "d.csv:3: `x`.* is not a number"),
    ("a,b,label\n1,2,0\n3,1\n", "d.csv:3: 2 cells, expected 3"),
    ("a,b\n1,2\n", "no column `label`"),
])
def test_csv_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        prepare(recipe({"type": "csv", "path": "d.csv", "target": "label"}), tmp_path)


def test_paths_outside_the_folder_are_refused(tmp_path: Path, monkeypatch) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=np.zeros(4))
    with pytest.raises(DataError, match="leaves the spec's folder"):
        prepare(recipe({"type": "npz", "path": "../d.npz"}), inner)
    monkeypatch.setenv("LOCKSTEP_ALLOW_OUTSIDE_PATHS", "1")
    assert len(prepare(recipe({"type": "npz", "path": "../d.npz"}), inner).x_train) == 4


def test_digits_ships_with_the_package() -> None:
    d = prepare(recipe({"type": "dataset", "name": "digits", "shape": "image"}), Path("."))
    assert d.x_train.shape == (1797, 1, 8, 8) and set(np.unique(d.y_train)) == set(range(10))
