"""Data preparation: determinism, split, preprocessing, step -> batch mapping, files and their errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.reference.data import DataError, load_source, prepare
from lockstep.reference.random import stream
from lockstep.spec.documents import Recipe


def recipe(source: dict, loss: str = "sparse_categorical_crossentropy", seed: int = 3, dtype: str = "float32",
           training: dict | None = None, **data) -> Recipe:
    loss_doc = {"type": loss, **({"from_logits": True} if "crossentropy" in loss else {})}
    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "r"}, "model": "m.yaml", "seed": seed,
        "dtype": dtype, "data": {"source": source, "batch_size": data.pop("batch_size", 8), **data},
        "loss": loss_doc, "optimizer": {"type": "sgd", "learning_rate": 0.1},
        "training": training or {"steps": 5}})


SYN = {"type": "synthetic_classification", "num_samples": 50, "shape": [3], "num_classes": 2}
REG = {"type": "synthetic_regression", "num_samples": 40, "shape": [3], "targets": 2}


# ---------------------------------------------------------------------------------- synthetic sources
@pytest.mark.parametrize("source,digest", [
    ({"type": "synthetic_classification", "num_samples": 20, "shape": [3], "num_classes": 3}, "50c40fc5f63f82ff"),
    ({"type": "synthetic_regression", "num_samples": 20, "shape": [3], "targets": 2}, "03019b759988ee28"),
    ({"type": "synthetic_sequences", "num_samples": 20, "length": 5, "features": 2, "num_classes": 3},
     "c68daefbcbc40086"),
    ({"type": "synthetic_sequences", "num_samples": 20, "length": 5, "vocab_size": 7}, "850cbaf5b423dc85"),
])
def test_synthetic_bits_are_pinned(source: dict, digest: str) -> None:
    """The standard's synthetic data is part of the standard: these bits may never change silently."""
    x, y = load_source(recipe(source, loss="mse"), Path("."))
    assert hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()[:16] == digest
    x2, _ = load_source(recipe(source, loss="mse", seed=4), Path("."))
    assert not np.array_equal(x, x2)


def test_synthetic_sources_follow_their_definitions() -> None:
    x, y = load_source(recipe({**SYN, "num_samples": 4000, "separation": 5.0}), Path("."))
    for k in (0, 1):  # samples ~ centre_k + N(0, I)
        assert np.allclose(x[y == k].std(axis=0), 1.0, atol=0.1)
    x, y = load_source(recipe({**REG, "num_samples": 4000, "noise": 0.0}, loss="mse"), Path("."))
    w, *_ = np.linalg.lstsq(x, y, rcond=None)  # noise 0: t is exactly linear in x
    assert np.allclose(x @ w, y)
    seq = {"type": "synthetic_sequences", "num_samples": 500, "length": 6, "features": 2, "num_classes": 2}
    x, y = load_source(recipe(seq), Path("."))
    assert x.shape == (500, 6, 2) and np.array_equal(y, (x[..., 0].sum(axis=1) > 0).astype(np.int64))
    tok = {**seq, "vocab_size": 5, "num_classes": 4}
    x, y = load_source(recipe(tok), Path("."))
    assert x.dtype == np.int64 and x.min() >= 0 and x.max() < 5 and set(np.unique(y)) <= {0, 1, 2, 3}


# ------------------------------------------------------------------------------------------ split
def test_deterministic_and_split() -> None:
    a = prepare(recipe(SYN, split={"validation": 0.2}), Path("."))
    b = prepare(recipe(SYN, split={"validation": 0.2}), Path("."))
    assert np.array_equal(a.x_train, b.x_train) and len(a.x_train) == 40 and len(a.x_eval) == 10
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64 and a.held_out
    x, _ = load_source(recipe(SYN), Path("."))
    perm = stream(3, "data", "split").permutation(50)
    assert np.array_equal(a.x_eval, x[perm[40:]].astype(np.float32))  # the last fraction is held out


def test_split_rounds_the_held_out_part_up_and_without_split_evaluates_on_training_data() -> None:
    d = prepare(recipe(SYN, split={"validation": 0.01}), Path("."))
    assert len(d.x_eval) == 1 and len(d.x_train) == 49  # ceil(50 * 0.01)
    d = prepare(recipe(SYN), Path("."))
    assert not d.held_out and np.array_equal(d.x_eval, d.x_train)


# -------------------------------------------------------------------------------------------- batches
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
    order = stream(3, "data", "order", "1").permutation(50)
    assert np.array_equal(d.batches(8)[1], d.x_train[order[8:16]])  # the standard's order of epoch 1
    # asking out of order (as a resumed run does) gives the same batches
    fresh = prepare(recipe(SYN), Path("."))
    assert all(np.array_equal(fresh.batch(s)[1], d.batch(s)[1]) for s in (20, 3, 13, 0))


def test_no_shuffle_drop_last_and_epochs() -> None:
    d = prepare(recipe(SYN, shuffle=False, drop_last=True, training={"epochs": 3}), Path("."))
    assert d.steps_per_epoch == 6 and all(len(d.batch(s)[1]) == 8 for s in range(18))
    assert np.array_equal(d.batch(0)[1], d.x_train[:8]) and np.array_equal(d.batch(6)[1], d.x_train[:8])
    assert d.total_steps(recipe(SYN, training={"epochs": 3}).training) == 18
    assert d.total_steps(recipe(SYN, training={"steps": 4}).training) == 4


def test_drop_last_with_too_few_samples_is_an_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 3)), y=np.zeros(5))
    with pytest.raises(DataError, match="batch_size 8 exceeds the 5 training samples"):
        prepare(recipe({"type": "npz", "path": "d.npz"}, drop_last=True), tmp_path)


# ------------------------------------------------------------------------------------- preprocessing
def test_standardize_uses_training_statistics() -> None:
    d = prepare(recipe(SYN, preprocessing=[{"type": "standardize"}], split={"validation": 0.3}), Path("."))
    assert np.allclose(d.x_train.mean(axis=0), 0, atol=1e-6) and np.allclose(d.x_train.std(axis=0), 1, atol=1e-5)
    assert not np.allclose(d.x_eval.mean(axis=0), 0, atol=1e-6)  # the eval split is not refitted


def test_min_max() -> None:
    d = prepare(recipe(SYN, preprocessing=[{"type": "min_max", "low": -1, "high": 2}], split={"validation": 0.2},
                       dtype="float64"), Path("."))
    assert np.allclose(d.x_train.min(axis=0), -1) and np.allclose(d.x_train.max(axis=0), 2)


def test_constant_feature_is_left_finite(tmp_path: Path) -> None:
    x = np.stack([np.ones(6), np.arange(6.0)], axis=1)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(6) % 2)
    for p in ({"type": "standardize"}, {"type": "min_max"}):
        d = prepare(recipe({"type": "npz", "path": "d.npz"}, preprocessing=[p]), tmp_path)
        assert np.all(np.isfinite(d.x_train))


def test_one_hot_targets() -> None:
    d = prepare(recipe({**SYN, "num_classes": 3}, loss="categorical_crossentropy",
                       preprocessing=[{"type": "one_hot", "num_classes": 3}], split={"validation": 0.2}), Path("."))
    assert d.y_train.shape == (40, 3) and d.y_train.dtype == np.float32 and np.all(d.y_train.sum(axis=1) == 1)
    assert d.y_eval.shape == (10, 3)


def test_a_class_beyond_the_outputs_names_its_sample_and_position(tmp_path: Path) -> None:
    """Per-position classes ([N, T], a sequence model's): the first one beyond the outputs, by its source row."""
    y = np.zeros((4, 3), dtype=np.int64)
    y[2, 1] = 7
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=y)
    with pytest.raises(DataError, match=re.escape("sample 2's class [1] 7 is out of range for a model with 5 outputs "
                                                  "(classes 0 to 4)")):
        prepare(recipe({"type": "npz", "path": "d.npz"}), tmp_path, output_shape=(3, 5))


def test_targets_are_fitted_to_the_model_output(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 3)), y=np.arange(6.0))
    src = {"type": "npz", "path": "d.npz"}
    d = prepare(recipe(src, loss="mse", dtype="float64"), tmp_path, output_shape=(1,))
    assert d.y_train.shape == (6, 1) and d.y_train.dtype == np.float64
    with pytest.raises(DataError, match=re.escape("targets have shape [] per sample but the model outputs shape [2]")):
        prepare(recipe(src, loss="mse"), tmp_path, output_shape=(2,))
    with pytest.raises(DataError, match=re.escape("sample 3's class 3 is out of range for a model with 3 outputs "
                                                  "(classes 0 to 2)")):
        prepare(recipe(src), tmp_path, output_shape=(3,))
    with pytest.raises(DataError, match=re.escape("samples have shape [3] but the model input has shape [4]")):
        prepare(recipe(src), tmp_path, input_shape=(4,))


# ----------------------------------------------------------------------------------------------- files
def test_csv_and_npz(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n\n3,4,1\n5,6,0\n")
    d = prepare(recipe({"type": "csv", "path": "d.csv", "target": "label"}, batch_size=2), tmp_path)
    assert d.x_train.shape == (3, 2) and sorted(d.y_train.tolist()) == [0, 0, 1]
    (tmp_path / "n.csv").write_text("0.5;1;2\n1.5;3;4\n")
    d = prepare(recipe({"type": "csv", "path": "n.csv", "target": 0, "header": False, "delimiter": ";"},
                       loss="mse"), tmp_path)
    assert d.x_train.shape == (2, 2) and sorted(d.y_train[:, 0].tolist()) == [0.5, 1.5]
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=np.zeros(4))
    d = prepare(recipe({"type": "npz", "path": "d.npz"}), tmp_path)
    assert d.x_train.shape == (4, 3)


@pytest.mark.parametrize("targets", [np.array([True, False, True, True]), np.array([1, 0, 1, 1], np.float16)])
def test_bool_and_float16_class_targets_are_class_indices(targets: np.ndarray, tmp_path: Path) -> None:
    """Bool targets (validate accepted them) were "internal error (OverflowError: Python int too large to convert
    to C long)"; float16 ones warned of an overflow in a cast of 2**63."""
    import warnings

    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=targets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = prepare(recipe({"type": "npz", "path": "d.npz"}, batch_size=2), tmp_path)
    assert d.y_train.dtype == np.int64 and sorted(d.y_train.tolist()) == [0, 1, 1, 1]


@pytest.mark.parametrize("text,message", [
    ("a,b,label\n1,2,0\n3,x,1\n", "d.csv:3: `x` in column `b` is not a number"),
    ("a,b,label\n1,2,0\n3,1\n", "d.csv:3: 2 cells, expected 3"),
    ("a,b,label\n1,nan,0\n", "d.csv:2: `nan` in column `b` is not a finite number"),
    ("a,b,label\n1,2,0\n1,2,0.5\n", "d.csv:3: target `0.5` in column `label` is not a class index"),
    ("a,b\n1,2\n", "no column `label`"),
    ("a,b,label\n", "no data rows"),
    ("", "empty file"),
])
def test_csv_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "d.csv").write_text(text)
    src = {"type": "csv", "path": "d.csv", "target": "label", "target_type": "class_index"}
    with pytest.raises(DataError, match=re.escape(message)):
        prepare(recipe(src), tmp_path)


@pytest.mark.parametrize("arrays,message", [
    ({"x": np.zeros((4, 3))}, "no array named 'y'"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(3)}, "`x` has 4 samples but `y` has 3"),
    ({"x": np.array([[np.nan]] * 4), "y": np.zeros(4)}, "`x` holds a non-finite value at index (0, 0)"),
    ({"x": np.array(["a"] * 4), "y": np.zeros(4)}, "`x` has dtype <U1; it must be real numbers"),
    ({"x": np.zeros((4, 3)), "y": np.array([0.5, 1, 0, 1])}, "class targets must be integers"),
])
def test_npz_errors_name_the_file(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=re.escape(message)) as info:
        prepare(recipe({"type": "npz", "path": "d.npz"}), tmp_path)
    assert "d.npz" in str(info.value)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"not a readable \.npz file"):
        prepare(recipe({"type": "npz", "path": "bad.npz"}), tmp_path)
    with pytest.raises(DataError, match="no such data file"):
        prepare(recipe({"type": "npz", "path": "absent.npz"}), tmp_path)


def test_paths_outside_the_folder_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3)), y=np.zeros(4))
    with pytest.raises(DataError, match="leaves the spec's folder"):
        prepare(recipe({"type": "npz", "path": "../d.npz"}), inner)
    with pytest.raises(DataError, match="LOCKSTEP_ALLOW_OUTSIDE_PATHS=1"):
        prepare(recipe({"type": "npz", "path": str(tmp_path / "d.npz")}), inner)
    monkeypatch.setenv("LOCKSTEP_ALLOW_OUTSIDE_PATHS", "1")
    assert len(prepare(recipe({"type": "npz", "path": "../d.npz"}), inner).x_train) == 4


def test_digits_ships_with_the_package() -> None:
    d = prepare(recipe({"type": "dataset", "name": "digits", "shape": "image"}), Path("."))
    assert d.x_train.shape == (1797, 1, 8, 8) and set(np.unique(d.y_train)) == set(range(10))
    x, y = load_source(recipe({"type": "dataset", "name": "digits", "shape": "flat"}), Path("."))
    assert x.shape == (1797, 64) and x.min() == 0 and x.max() == 16 and np.bincount(y).min() >= 170


_CELLS = ["1", " 2.5 ", "-3e4", "+.5", "5.", "1E-300", "0", "5_0", "٥", "nan", "inf", "-Infinity", "1e", "", " ",
          "1 2", "0x1", "\x1c1", "1\x0b", "\t7\t", "1e400", "--1", "+-1", ".", "e5", "1.2.3", "１"]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_CELLS), min_size=1, max_size=6), st.integers(0, 5),
       st.sampled_from(["float", "class_index"]), st.booleans())
def test_a_csv_row_is_read_by_the_cell_rule_whatever_the_fast_path(row: list[str], col: int, target_type: str,
                                                                   probabilities: bool) -> None:
    """csv_row reads a whole row at once when it can: it must accept and refuse exactly as the rule cell by cell
    (an ASCII decimal number, finite; a class index a whole number >= 0; a probability in [0, 1])."""
    import math
    import re

    from lockstep.spec.semantics.data import csv_row

    number = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
    col %= len(row)

    def cell_ok(c: int, cell: str) -> bool:
        if not number.fullmatch(cell) or not math.isfinite(float(cell)):
            return False
        v = float(cell)
        if c == col and target_type == "class_index" and (v < 0 or v != int(v)):
            return False
        return not (c == col and probabilities and not 0 <= v <= 1)

    expected = all(cell_ok(c, cell) for c, cell in enumerate(row))
    try:
        got = csv_row(row, len(row), [], col, target_type, probabilities, "binary_crossentropy")
    except ValueError:
        assert not expected, row
        return
    assert expected and got == [float(c) for c in row], row
