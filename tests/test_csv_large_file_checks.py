"""A csv over MAX_CSV_BYTES is not read whole at validation, but its header, its target column and its first
records are checked as a run checks them, read by the same csv reader: the large-file branch returned before the
target checks (`target: nope`, a named target with `header: false`, a target index outside the columns all
validated, and the run refused them), and split its first MiB on "\\n" (a leading blank line or CR-only line endings
were refused, although the same content under the limit is valid). The limit is lowered here, not the file grown."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import file_recipe

from lockstep.cli import main
from lockstep.spec.semantics import data

MODEL, RECIPE = file_recipe("{type: csv, path: d.csv, target_type: class_index, SOURCE}", batch_size=4, steps=2)
ROWS = "".join(f"0.{i % 97:02d},0.{(i * 7) % 89:02d},{i % 2}\n" for i in range(400))  # about 5 KB


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MAX_CSV_BYTES", 2000)
    monkeypatch.setattr(data, "SAMPLE_CSV_CHARS", 300, raising=False)


def _recipe(tmp_path: Path, source: str, text: str) -> Path:
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "d.csv").write_bytes(text.encode())
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("SOURCE", source))
    assert (tmp_path / "d.csv").stat().st_size > data.MAX_CSV_BYTES
    return path


@pytest.mark.parametrize(("source", "words"), [
    ("target: nope, header: true", "data.source.target: `d.csv` has no column `nope` (columns: a, b, y)"),
    ("target: y, header: false", "the target column is named (`y`) but `header` is false"),
    ("target: 7, header: true", "target column 7 is outside the 3 columns of `d.csv`"),
], ids=["no-such-column", "named-without-header", "index-outside"])
def test_a_large_csv_has_its_target_checked(small_limit: None, tmp_path: Path, source: str, words: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = _recipe(tmp_path, source, "a,b,y\n" + ROWS)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert words in out, out
    assert main(["run", str(path), "-q", "--out", str(tmp_path / "out")]) == 2


def test_a_bad_row_at_the_start_of_a_large_csv_is_named(small_limit: None, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _recipe(tmp_path, "target: y, header: true", "a,b,y\n1,2,0\n1,x,1\n" + ROWS)
    assert main(["validate", str(path)]) == 1
    assert "`d.csv`:3: `x` in column `b` is not a number" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["\na,b,y\n" + ROWS, ("a,b,y\n" + ROWS).replace("\n", "\r"),
                                  ("a,b,y\n" + ROWS).replace("\n", "\r\n"), '"a","b","y"\n' + ROWS,
                                  "a,b,y\n" + "".join(f'"{r[:-1].replace(",", chr(34) + "," + chr(34))}"\n'
                                                      for r in ROWS.splitlines(keepends=True))],
                         ids=["leading-blank-line", "cr-only", "crlf", "quoted-header", "quoted-cells"])
def test_a_large_csv_is_read_as_a_small_one_is(small_limit: None, tmp_path: Path, text: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = _recipe(tmp_path, "target: y, header: true", text)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().out
    assert main(["run", str(path), "-q", "--out", str(tmp_path / "out")]) == 0


def test_a_record_cut_by_the_sample_is_not_judged(small_limit: None, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A quoted cell spanning lines across the end of what validation reads is completed by the rest of the file."""
    long_header = 'a,"b' + "\n" * 2500 + '",y\n'  # one header record longer than the whole budget
    path = _recipe(tmp_path, "target: y, header: true", long_header + ROWS)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().out
    path = _recipe(tmp_path, "target: y, header: true", "a,b,y\n" + ROWS[:280] + '1,"2' + "\n" * 30 + '",0\n' + ROWS)
    assert main(["validate", str(path)]) == 0, capsys.readouterr().out


def test_a_large_csv_gives_its_width_and_an_estimate_of_its_rows(small_limit: None, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,y\n" + ROWS)
    facts = data.DataFacts(label="d")
    out: list = []

    class Source:
        path, target, header, delimiter, target_type = "d.csv", "y", True, ",", "class_index"

    data._csv_facts(Source(), tmp_path / "d.csv", facts, None, out)  # type: ignore[arg-type]
    assert out == [] and facts.features == (2,) and facts.samples is None
    assert facts.approx_samples is not None and 300 < facts.approx_samples < 500
