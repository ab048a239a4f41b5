"""A csv class index is read as a float64, as every cell is: 9223372036854775807 (2**63 - 1) becomes 2**63, which
no int64 holds. It was refused as "not a class index (an integer from 0 to 2**63 - 1)", a range it seemed to be in;
the message now says what the cell became and the largest index a cell can hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import file_recipe

from lockstep.cli import main
from lockstep.spec.semantics.data import LARGEST_CSV_CLASS, csv_row

MODEL, RECIPE = file_recipe("{type: csv, path: d.csv, target: y, header: true, target_type: class_index}")


def test_the_largest_csv_class_index_is_the_largest_float64_below_2_63() -> None:
    assert LARGEST_CSV_CLASS == 2**63 - 1024 == int(float(LARGEST_CSV_CLASS))
    assert csv_row(["1", str(LARGEST_CSV_CLASS)], 2, [], 1, "class_index")[1] == LARGEST_CSV_CLASS
    with pytest.raises(ValueError) as got:
        csv_row(["1", str(2**63 - 1)], 2, [], 1, "class_index")
    said = str(got.value)
    assert "is 9223372036854775808" in said and "2**63 - 1024" in said and "2**63 - 1)" not in said, said
    with pytest.raises(ValueError, match=r"target `-1` in column 2 is not a class index \(an integer from 0 to "
                                         r"2\*\*63 - 1024"):
        csv_row(["1", "-1"], 2, [], 1, "class_index")


def _validate_and_run_say(tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, words: str) -> None:
    """validate (exit 1) and run (exit 2, no traceback) both say `words` of a csv whose fourth line's target is
    `cell`."""
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "d.csv").write_text(f"a,b,y\n1,1,0\n1,0,1\n1,1,{cell}\n0,0,0\n")
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == 1
    out = capsys.readouterr().out
    assert words in out, out
    assert main(["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err


def test_validate_and_run_say_what_the_cell_became(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _validate_and_run_say(tmp_path, capsys, "9223372036854775807",
                          "`d.csv`:4: target `9223372036854775807` in column `y` is not a class index: read as a "
                          "float64, as every cell is, it is 9223372036854775808 (an integer from 0 to 2**63 - 1024, "
                          "the largest float64 below 2**63)")


@pytest.mark.parametrize(("cell", "became"), [
    ("9223372036854774785", "9223372036854774784"), ("9007199254740993", "9007199254740992"),
    ("0.99999999999999999999", "1"), ("1.0000000000000001", "1"), ("1e-400", "0"),
    ("9.223372036854774785e18", "9223372036854774784"),
])
def test_a_class_index_a_float64_does_not_hold_exactly_is_refused(cell: str, became: str) -> None:
    """9223372036854774785 was taken as class 9223372036854774784 (its float64), 0.99999999999999999999 as class
    1: another class than the cell says, silently."""
    with pytest.raises(ValueError) as got:
        csv_row(["1", cell], 2, ["x", "y"], 1, "class_index")
    assert str(got.value).startswith(f"target `{cell}` in column `y` is not a class index: read as a float64, as "
                                     f"every cell is, it is {became}, not the number the cell says"), got.value
    assert csv_row(["1", cell], 2, ["x", "y"], 1, "float")[1] == float(cell)  # a float target is a float64


@pytest.mark.parametrize("cell", ["0", "7", "+7", " 7 ", "7.0", "7.", "0007", "7e0", "0.7e1", "-0", "9007199254740992",
                                  "9223372036854774784", "000000000000000000000000000001"])
def test_a_class_index_a_float64_holds_exactly_is_taken(cell: str) -> None:
    assert csv_row(["1", cell], 2, ["x", "y"], 1, "class_index")[1] == float(cell)


def test_validate_and_run_refuse_a_class_index_that_is_not_exact(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    _validate_and_run_say(tmp_path, capsys, "0.99999999999999999999",
                          "`d.csv`:4: target `0.99999999999999999999` in column `y` is not a class index: read as a "
                          "float64, as every cell is, it is 1, not the number the cell says")


def test_a_run_loading_the_file_says_it_alike(tmp_path: Path) -> None:
    """A csv over the size validation reads whole is checked when the run loads it: by the same rule and words."""
    from lockstep.reference.data import DataError, _load_csv

    (tmp_path / "d.csv").write_text("a,b,y\n1,1,0\n1,0,9223372036854774785\n")
    with pytest.raises(DataError) as got:
        _load_csv(tmp_path / "d.csv", "y", True, ",", "class_index")
    assert str(got.value).startswith(f"{tmp_path / 'd.csv'}:3: target `9223372036854774785` in column `y` is not a "
                                     "class index: read as a float64, as every cell is, it is 9223372036854774784, "
                                     "not the number the cell says (above 2**53"), got.value
