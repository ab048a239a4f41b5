"""A class index is one rule for every source: an int64, a whole number from 0 below 2**63. An .npz array of
float64 holding 2**63 (np.array([..., 9223372036854775807.0]) rounds to it) was refused by a run as "class target
9.22337e+18 is not a class index (an integer from 0 to 2**63 - 1)", a range it seemed to be in, while a csv says
the largest a float64 holds is 2**63 - 1024. The range is now said by one function for both, by the array's own
kind: 2**63 - 1 of an integer array, the largest float below 2**63 of a float one, and the value exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests_support import file_recipe

from lockstep.cli import main
from lockstep.reference.data import DataError, _class_indices
from lockstep.spec.semantics import data, recipe
from lockstep.spec.semantics.data import LARGEST_CSV_CLASS, class_index_range, csv_row

MODEL, RECIPE = file_recipe("{type: npz, path: d.npz, features: x, targets: y}")


def test_the_range_is_the_largest_value_of_the_kind_below_2_63() -> None:
    assert class_index_range() == "an integer from 0 to 2**63 - 1024, the largest float64 below 2**63"
    assert 2**63 - 1024 == LARGEST_CSV_CLASS == int(np.nextafter(np.float64(2**63), 0))
    assert class_index_range("f", 4) == "an integer from 0 to 2**63 - 549755813888, the largest float32 below 2**63"
    assert 2**63 - 549755813888 == int(np.nextafter(np.float32(2**63), np.float32(0)))
    assert class_index_range("u", 8) == class_index_range("i", 8) == "an integer from 0 to 2**63 - 1, the largest int64"


@pytest.mark.parametrize(("y", "words"), [
    (np.array([0, 1, 2.0**63]), "class target 9223372036854775808 is not a class index (an integer from 0 to "
                                "2**63 - 1024, the largest float64 below 2**63)"),
    (np.array([0, 1, 2**63], dtype=np.uint64), "class target 9223372036854775808 is not a class index (an integer "
                                               "from 0 to 2**63 - 1, the largest int64)"),
    (np.array([0, 2.0**64], dtype=np.float32), "class target 18446744073709551616 is not a class index (an integer "
                                               "from 0 to 2**63 - 549755813888, the largest float32 below 2**63)"),
])
def test_an_npz_class_target_beyond_int64_is_said_exactly(y: np.ndarray, words: str) -> None:
    with pytest.raises(DataError) as got:
        _class_indices(y, "d.npz")
    assert str(got.value) == f"d.npz: {words}"


def test_an_npz_and_a_csv_say_the_float64_range_alike() -> None:
    with pytest.raises(DataError) as npz:
        _class_indices(np.array([2.0**63]), "d.npz")
    with pytest.raises(ValueError) as csv:
        csv_row(["1", "9223372036854775808"], 2, [], 1, "class_index")
    assert f"({class_index_range()})" in str(npz.value) and f"({class_index_range()}" in str(csv.value)


def test_the_largest_class_index_of_each_kind_is_taken() -> None:
    assert _class_indices(np.array([2**63 - 1], dtype=np.int64), "d.npz")[0] == 2**63 - 1
    assert _class_indices(np.array([2**63 - 1], dtype=np.uint64), "d.npz")[0] == 2**63 - 1
    assert _class_indices(np.array([float(LARGEST_CSV_CLASS)]), "d.npz")[0] == LARGEST_CSV_CLASS


def test_a_run_says_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An .npz over the size validation reads: its values are checked when the run loads them."""
    monkeypatch.setattr(data, "MAX_CSV_BYTES", 16)
    monkeypatch.setattr(recipe, "MAX_CSV_BYTES", 16)
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.array([0, 1, 9223372036854775807.0, 0]))
    assert main(["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert ("d.npz: class target 9223372036854775808 is not a class index (an integer from 0 to 2**63 - 1024, "
            "the largest float64 below 2**63)") in err, err


def test_validate_says_a_large_class_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It said `holds class 9.22337e+18`: the class, not six digits of it."""
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.array([0, 1, 2**63 - 1, 0], dtype=np.int64))
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == 1
    out = capsys.readouterr().out
    assert "array `y` holds class 9223372036854775807 (sample 2), but the model's outputs give 2 classes" in out, out
