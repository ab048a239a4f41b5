"""A data file's values: `lockstep validate` refuses what `lockstep run` refuses (or crashed on) for a reason it
can see in the file, and a run never trains on values it changed silently.

Found by an adversarial sweep: a token beyond the embedding stopped a run at its first batch with a traceback
after the run folder was made; `standardize` turned a column beyond about 1e154 into zeros; a class index of 1e20
became -2**63; float32-overflowing values, a duplicated target column and fractional class targets in a csv passed
validation and were refused by the run.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from lockstep.cli import main
from lockstep.reference.data import DataError, _min_max, _standardize, prepare
from lockstep.spec.documents import Recipe
from lockstep.spec.npy import _itemsize

ROOT = Path(__file__).resolve().parents[1]
EMBEDDING_MODEL = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs:
  - {name: tokens, shape: [2], dtype: int64}
layers:
  - {type: embedding, name: e, input_dim: 10, output_dim: 3}
  - {type: flatten}
  - {type: dense, name: out, units: 2}
"""

DENSE_MODEL = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs:
  - {name: p, shape: [2]}
layers:
  - {type: dense, name: out, units: UNITS}
"""


def _recipe(folder: Path, source: str, loss: str, *, model: str = DENSE_MODEL, units: int = 1, extra: str = "",
            dtype: str = "float64") -> Path:
    (folder / "model.yaml").write_text(model.replace("UNITS", str(units)))
    path = folder / "recipe.yaml"
    path.write_text(f"""apiVersion: lockstep/v1
kind: Recipe
metadata: {{name: r}}
model: model.yaml
seed: 7
dtype: {dtype}
data:
  source: {source}
  batch_size: 2
  {extra}
loss: {loss}
optimizer: {{type: sgd, learning_rate: 0.05}}
training: {{steps: 2}}
""")
    return path


def _refused(path: Path, capsys: pytest.CaptureFixture[str], words: str) -> None:
    """validate exits 1 saying `words`; run exits 2, says it too, and makes no run folder."""
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert words in out, out
    out_dir = path.parent / "out"
    assert main(["run", str(path), "--backend", "reference", "--out", str(out_dir), "-q"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    assert not out_dir.exists(), sorted(p.name for p in out_dir.iterdir())


# ------------------------------------------------------------------------------------------ token indices
@pytest.mark.parametrize("rows", ["1,2,0\n3,40,1\n5,6,1\n7,8,0\n", "1,2,0\n3,-1,1\n5,6,1\n7,8,0\n"],
                         ids=["beyond", "negative"])
def test_a_token_outside_the_embedding_is_refused_before_the_run(tmp_path: Path, capsys, rows: str) -> None:
    (tmp_path / "data.csv").write_text("t1,t2,y\n" + rows)
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y, target_type: class_index}",
                   "{type: sparse_categorical_crossentropy, from_logits: true}", model=EMBEDDING_MODEL)
    bad = "40" if "40" in rows else "-1"
    _refused(path, capsys, f"`data.csv` holds token {bad} (line 3), but embedding `e` of the model `model.yaml` "
                           "has input_dim 10")


def test_a_token_outside_the_embedding_in_an_npz_is_refused(tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "d.npz", x=np.array([[1, 2], [3, 12], [5, 6], [7, 8]]), y=np.array([0, 1, 1, 0]))
    path = _recipe(tmp_path, "{type: npz, path: d.npz}", "{type: sparse_categorical_crossentropy, from_logits: true}",
                   model=EMBEDDING_MODEL)
    _refused(path, capsys, "`d.npz` array `x` holds token 12 (sample 1 [1]), but embedding `e`")


def test_fractional_tokens_are_refused_by_validate_too(tmp_path: Path, capsys) -> None:
    (tmp_path / "data.csv").write_text("t1,t2,y\n1,2,0\n3,4.5,1\n5,6,1\n7,8,0\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y, target_type: class_index}",
                   "{type: sparse_categorical_crossentropy, from_logits: true}", model=EMBEDDING_MODEL)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "takes integer indices, but `data.csv` holds 4.5 (line 3)" in out, out


def test_the_run_checks_tokens_itself(tmp_path: Path) -> None:
    """Files beyond validation's reading limit are checked by the run: before the first batch, naming the sample."""
    (tmp_path / "data.csv").write_text("t1,t2,y\n1,2,0\n3,40,1\n5,6,1\n7,8,0\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y, target_type: class_index}",
                   "{type: sparse_categorical_crossentropy, from_logits: true}", model=EMBEDDING_MODEL)
    recipe = Recipe.model_validate(yaml.safe_load(path.read_text()))  # not validated: validation refuses it
    with pytest.raises(DataError, match=r"sample 1's token \[1\] is 40, outside the embedding's input_dim 10"):
        prepare(recipe, tmp_path, "int64", vocabulary=10)
    assert prepare(recipe, tmp_path, "int64", vocabulary=41).x_train.dtype == np.int64


def test_a_synthetic_vocabulary_wider_than_the_embedding_is_refused(tmp_path: Path, capsys) -> None:
    recipe = ROOT / "examples" / "embedding-gru" / "recipe.yaml"
    (tmp_path / "model.yaml").write_text((recipe.parent / "model.yaml").read_text())
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe.read_text().replace("vocab_size: 10", "vocab_size: 12"))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "tokens range over 0..11 but embedding `embed` of the model `model.yaml` has input_dim 10 " \
           "(expected input_dim >= 12)" in out, out


# ------------------------------------------------------------------------------------------ preprocessing
def test_standardize_keeps_a_huge_feature_and_every_other_bit() -> None:
    x = np.array([[1e160, 1.0], [-1e160, 2.5], [1.0, 3.0], [2.0, 4.5]])
    got, _ = _standardize(None, x, x)
    assert np.all(np.isfinite(got)) and got[0, 0] == pytest.approx(math.sqrt(2)), got
    plain = x[:, 1:]
    want = (plain - plain.mean(axis=0)) / plain.std(axis=0)
    assert np.array_equal(got[:, 1:], want), "a column that fits must keep the plain formula's bits"
    assert np.array_equal(_standardize(None, plain, plain)[0], want)


def test_min_max_over_the_whole_float64_range() -> None:
    x = np.array([[1.7e308, 1.0], [-1.7e308, 2.0], [0.0, 3.0]])
    got, _ = _min_max(SimpleNamespace(low=0.0, high=1.0), x, x)
    assert np.array_equal(got, [[1.0, 0.0], [0.0, 0.5], [0.5, 1.0]]), got


def test_min_max_bounds_beyond_float32_are_refused_at_their_field(tmp_path: Path, capsys) -> None:
    (tmp_path / "data.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,1\n7,8,0\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y}", "{type: mse}", dtype="float32",
                   extra="preprocessing: [{type: min_max, low: 0, high: 1e39}]")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "data.preprocessing[0].high: min_max scales features to 1e+39, beyond the range of the recipe's dtype " \
           "(float32: ±3.40282e+38)" in out, out


# ------------------------------------------------------------------------------------------ dtype range
@pytest.mark.parametrize(("rows", "words"), [
    ("1,1e39,0\n3,4,1\n5,6,1\n7,8,0\n", "`data.csv` holds the feature value 1e+39 (line 2)"),
    ("1,2,0\n3,4,-1e39\n5,6,1\n7,8,0\n", "`data.csv` column `y` holds the target value -1e+39 (line 3)"),
], ids=["feature", "target"])
def test_values_beyond_float32_are_refused_by_validate_as_by_run(tmp_path: Path, capsys, rows: str,
                                                                 words: str) -> None:
    (tmp_path / "data.csv").write_text("a,b,y\n" + rows)
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y}", "{type: mse}", dtype="float32")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{words}, beyond the range of the recipe's dtype (float32: ±3.40282e+38)" in out, out
    assert main(["run", str(path), "--backend", "reference", "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "beyond the range of the recipe's dtype" in capsys.readouterr().err


def test_a_huge_feature_that_standardize_rescales_is_accepted(tmp_path: Path, capsys) -> None:
    (tmp_path / "data.csv").write_text("a,b,y\n1,1e39,0\n3,4,1\n5,6,1\n7,8,0\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y}", "{type: mse}", dtype="float32",
                   extra="preprocessing: [{type: standardize}]")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().out
    assert main(["run", str(path), "--backend", "reference", "--out", str(tmp_path / "out"), "-q"]) == 0


# ------------------------------------------------------------------------------------------ targets
def test_a_class_index_beyond_int64_is_refused(tmp_path: Path, capsys) -> None:
    """It became -9223372036854775808 (a numpy cast warning, then a non-finite loss or a run of loss 1e36)."""
    (tmp_path / "data.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,1e20\n7,8,2\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y, target_type: class_index}", "{type: mse}")
    _refused(path, capsys, ":4: target `1e20` in column `y` is not a class index (an integer from 0 to 2**63 - 1024")


def test_fractional_class_targets_in_a_csv_are_refused_by_validate(tmp_path: Path, capsys) -> None:
    (tmp_path / "data.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,2.5\n7,8,0\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y}",
                   "{type: sparse_categorical_crossentropy, from_logits: true}", units=3)
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "`data.csv` column `y` holds 2.5 (line 4); class indices are whole numbers" in out, out


def test_a_duplicated_target_column_is_refused_by_validate(tmp_path: Path, capsys) -> None:
    (tmp_path / "data.csv").write_text("a,b,b\n1,0,0\n3,1,1\n5,1,1\n7,0,0\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: b}", "{type: binary_crossentropy, from_logits: true}")
    _refused(path, capsys, ":1: column `b` appears 2 times in the header; name the target by its index")


# ------------------------------------------------------------------------------------------ npz dtypes
def test_float128_is_refused_alike(tmp_path: Path, capsys) -> None:
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("long double is float64 on this platform")
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2), dtype=np.longdouble), y=np.array([0.0, 1, 1, 0]))
    path = _recipe(tmp_path, "{type: npz, path: d.npz}", "{type: mse}")
    assert main(["validate", str(path)]) == 1
    assert "array `x` in `d.npz` is float128: wider than the float64" in capsys.readouterr().out
    assert main(["run", str(path), "--backend", "reference", "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "is float128: wider than the float64" in capsys.readouterr().err


@pytest.mark.parametrize(("descr", "want"), [("<f", ("f", 4)), ("<d", ("f", 8)), ("|b", ("i", 1)),
                                             ("|b1", ("b", 1)), ("<i", ("i", 4)), ("<f4", ("f", 4))])
def test_a_type_code_without_a_size_is_read_as_numpy_reads_it(descr: str, want: tuple[str, int]) -> None:
    """`<f` had no size, so the check that the file holds the bytes its header promises was skipped."""
    assert _itemsize(descr) == want
    assert np.dtype(descr).itemsize == want[1]


# ------------------------------------------------------------------------------------------ messages
def test_set_into_a_list_the_recipe_leaves_out(tmp_path: Path, capsys) -> None:
    (tmp_path / "data.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,1\n7,8,0\n")
    path = _recipe(tmp_path, "{type: csv, path: data.csv, target: y}", "{type: mse}")
    for said in ("data.preprocessing[0]={type: standardize}", "data.preprocessing.0={type: standardize}"):
        assert main(["run", str(path), "--set", said, "--out", str(tmp_path / "out"), "-q"]) == 2
        err = capsys.readouterr().err
        assert "`data.preprocessing` is not in the recipe, so it has no item 0 to set; give the whole list: " \
               "--set 'data.preprocessing=[...]'" in err, err
    assert main(["run", str(path), "--set", "data.preprocessing=[{type: standardize}]", "--out",
                 str(tmp_path / "out"), "-q"]) == 0


def test_a_json_file_yaml_cannot_read_is_still_invalid_json(tmp_path: Path, capsys) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "\\ud800"}}')
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "invalid JSON: found invalid Unicode character escape code" in out, out


def test_a_bug_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from lockstep.commands import schema

    def broken(args: object) -> int:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(schema, "run", broken)
    monkeypatch.delenv("LOCKSTEP_DEBUG", raising=False)
    assert main(["schema"]) == 3  # apart from every verdict (1) and usage error (2)
    err = capsys.readouterr().err
    assert err == ("lockstep schema: internal error (ZeroDivisionError: planted); set LOCKSTEP_DEBUG=1 for the "
                   "traceback and please report it\n"), err
    monkeypatch.setenv("LOCKSTEP_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["schema"])


def test_an_internal_error_is_never_a_verdict(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """An internal error exited 1, which `validate` (invalid), `compare` (diverges) and `certify` (not certified)
    use for their verdicts, so a CI gate read a crash in Lockstep as a verdict on the user's files (validate's own
    catch said 2, a usage error). Every command now exits 3 for it."""
    import lockstep.api

    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("planted")

    monkeypatch.delenv("LOCKSTEP_DEBUG", raising=False)
    monkeypatch.setattr(lockstep.api, "validate", broken)
    assert main(["validate", "examples/digits-mlp/recipe.yaml"]) == 3
    assert "lockstep validate: internal error (KeyError: 'planted')" in capsys.readouterr().err
    monkeypatch.setattr(lockstep.api, "certify", broken)
    assert main(["certify", "--adapter", "reference", "--construct", "dense", "--level", "1", "--report",
                 str(Path(__file__).parent / "no-such-folder-made")]) == 3
    assert "lockstep certify: internal error (KeyError: 'planted')" in capsys.readouterr().err
