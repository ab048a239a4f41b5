"""Inputs beyond the recipe dtype's range are refused up front, naming the value; a command whose standard output
refuses writes says so in one line; a FIFO given as a recipe is refused, not waited on; a certification never
replaces another command's report.json. Found by an adversarial sweep of the CLI (2026-12-05)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from lockstep.reference.data import DataError, prepare
from lockstep.runner import RunError, prepare_run
from lockstep.spec.documents import Recipe

RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {{name: range-inputs}}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {{name: m}}
  inputs: [{{name: x, shape: [2]}}]
  layers: [{{type: dense, name: d, units: 1}}]
  {weights}
seed: 0
dtype: {dtype}
data:
  source: {{type: npz, path: d.npz}}
  split: {{validation: 0.25}}
  batch_size: 8
loss: {{type: mse}}
optimizer: {{type: sgd, learning_rate: 0.01}}
training: {{steps: 2}}
"""


def _recipe(folder: Path, *, x: np.ndarray | None = None, y: np.ndarray | None = None, weight: float | None = None,
            dtype: str = "float32") -> Path:
    rng = np.random.default_rng(0)
    np.savez(folder / "d.npz", x=rng.normal(size=(40, 2)) if x is None else x,
             y=rng.normal(size=(40, 1)) if y is None else y)
    weights = ""
    if weight is not None:
        np.savez(folder / "w.npz", **{"d.weight": np.array([[weight], [1.0]]), "d.bias": np.zeros(1)})
        weights = "weights: {path: w.npz}"
    path = folder / "recipe.yaml"
    path.write_text(RECIPE.format(dtype=dtype, weights=weights))
    return path


@pytest.mark.parametrize("where", ["feature", "target"])
def test_data_beyond_float32_is_refused_naming_the_sample(where: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 1))
    (x if where == "feature" else y)[17, 0] = -3e300
    path = _recipe(tmp_path, x=x, y=y)
    with pytest.raises(RunError) as caught:  # validation reads the file's values first
        prepare_run(path)
    message = caught.value.diagnostics[0].message
    assert f"holds the {where} value -3e+300 (sample 17 [0]), beyond the range of the recipe's dtype (float32" \
        in message, message
    recipe = Recipe.model_validate(yaml.safe_load(path.read_text()))  # and the run, for files validation skips
    with pytest.raises(DataError) as loading:
        prepare(recipe, tmp_path)
    message = str(loading.value)
    assert f"sample 17's {where}" in message and "-3e+300" in message and "float32" in message, message


def test_data_float64_holds_is_accepted(tmp_path: Path) -> None:
    x = np.random.default_rng(1).normal(size=(40, 2))
    x[3, 1] = 1e300
    prep = prepare_run(_recipe(tmp_path, x=x, dtype="float64"))
    assert np.max(np.abs(np.concatenate([prep.data.x_train, prep.data.x_eval]))) == 1e300


def test_weights_beyond_float32_are_refused(tmp_path: Path) -> None:
    """Before: the run started from ±inf weights and stopped at step 3 on the reference, step 2 on the frameworks."""
    with pytest.raises(RunError, match="the recipe is not valid") as refused:  # validate finds it now, before
        prepare_run(_recipe(tmp_path, weight=1e300))
    (said,) = [d.message for d in refused.value.diagnostics]
    assert "`d.weight` in weights file `w.npz` holds 1e+300 at index (0, 0), beyond the range" in said, said
    prepare_run(_recipe(tmp_path, weight=1e300, dtype="float64"))  # float64 holds it


def _cli(*args: str, stdout: object = subprocess.PIPE, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockstep", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["schema"], ["validate", "{recipe}"], ["adapters", "--format", "json"]])
def test_a_full_standard_output_is_one_line_not_a_traceback(args: list[str], tmp_path: Path) -> None:
    recipe = _recipe(tmp_path)
    with open("/dev/full", "w") as full:
        done = _cli(*(a.format(recipe=recipe) for a in args), stdout=full)
    assert done.returncode == 2, done.stderr  # an I/O error; 1 would be a verdict ("invalid")
    assert done.stderr.strip() == "lockstep: cannot write to standard output: No space left on device", done.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_recipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    done = _cli("run", str(fifo), "--out", str(tmp_path / "out"), timeout=30)
    assert done.returncode == 2 and "not a file" in done.stderr, done.stderr


def test_certify_refuses_a_run_folder_as_its_report_folder(tmp_path: Path) -> None:
    """`certify --report` rewrites its own reports run after run, but replacing a run's report.json orphaned the
    run (`lockstep deploy` reads it)."""
    import lockstep
    from lockstep.errors import LockstepError

    run = lockstep.run(_recipe(tmp_path), out=tmp_path / "run", steps=1)
    before = (run.folder / "report.json").read_bytes()
    with pytest.raises(LockstepError, match="holds a run's outputs"):
        lockstep.certify("reference", constructs="dense", levels=[1], dtypes=["float64"], examples=1, jobs=1,
                         report=run.folder)
    assert (run.folder / "report.json").read_bytes() == before
    # sweep O (2026-12-07): a hand-made report.json of the two keys once looked at passed for a certificate, and
    # the junit.xml beside it was replaced
    for i, text in enumerate(['{"something": "else"}', '{"certified": true, "checks": []}']):
        (tmp_path / f"odd{i}").mkdir()
        (tmp_path / f"odd{i}" / "report.json").write_text(text)
        (tmp_path / f"odd{i}" / "junit.xml").write_text("mine")
        with pytest.raises(LockstepError, match="not a certificate"):
            lockstep.certify("reference", constructs="dense", levels=[1], dtypes=["float64"], examples=1, jobs=1,
                             report=tmp_path / f"odd{i}")
        assert (tmp_path / f"odd{i}" / "junit.xml").read_text() == "mine"
    first = lockstep.certify("reference", constructs="dense", levels=[1], dtypes=["float64"], examples=1, jobs=1,
                             report=tmp_path / "cert")
    again = lockstep.certify("reference", constructs="dense", levels=[1], dtypes=["float64"], examples=1, jobs=1,
                             report=tmp_path / "cert")  # its own folder: rewritten, as before
    assert first.certified and again.certified


@pytest.mark.parametrize("odd", ["\ufffe", "\uffff", "\x01", "\u202e"])
def test_validate_junit_parses_whatever_a_key_holds(odd: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """JUnit XML of a document whose key holds a character XML 1.0 forbids (U+FFFE, U+FFFF: written raw before)."""
    from xml.dom import minidom

    from lockstep.cli import main

    doc = tmp_path / "a.yaml"
    doc.write_text("apiVersion: lockstep/v1\nkind: Model\nmetadata: {name: a}\ninputs: [{name: x, shape: [2]}]\n"
                   f'layers: [{{type: dense, units: 1, "bad{odd}": 1}}]\n', encoding="utf-8")
    assert main(["validate", "--format", "junit", str(doc)]) == 1
    report = capsys.readouterr().out
    parsed = minidom.parseString(report.encode("utf-8"))
    assert parsed.getElementsByTagName("failure"), report


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_an_integer_too_long_for_python_is_not_called_a_quoted_string(suffix: str, tmp_path: Path) -> None:
    """5,001 unquoted digits (more than Python converts) were reported as `the string "1000…"; remove the quotes`."""
    from lockstep.spec.validate import load_and_validate

    units = "1" + "0" * 5000
    doc = tmp_path / f"m{suffix}"
    doc.write_text('{"apiVersion": "lockstep/v1", "kind": "Model", "metadata": {"name": "a"}, '
                   f'"inputs": [{{"name": "x", "shape": [2]}}], "layers": [{{"type": "dense", "units": {units}}}]}}')
    messages = [d.message for d in load_and_validate(doc)[1]]
    assert any("an integer of 5001 digits" in m for m in messages), messages
    assert not any("quotes" in m for m in messages), messages


@pytest.mark.parametrize(("cell", "number"), [("5_0", None), ("\u0665", None), ("0x5", None), ("1e", None),
                                               (" 2 ", 2.0), (".5", 0.5), ("-8.", -8.0), ("+9e-1", 0.9)])
def test_csv_cells_are_ascii_decimal_numbers(cell: str, number: float | None, tmp_path: Path) -> None:
    """Python's float() also read `5_0` as 50 and the Arabic-Indic digit five as 5."""
    from lockstep.reference.data import DataError, _load_csv

    path = tmp_path / "d.csv"
    path.write_text(f"a,b,y\n1,2,3\n4,{cell},6\n", encoding="utf-8")
    if number is None:
        with pytest.raises(DataError, match=r"d.csv:3: .* in column `b` is not a number"):
            _load_csv(path, "y", True, ",")
    else:
        x, _ = _load_csv(path, "y", True, ",")
        assert x[1, 1] == number


def test_csv_target_named_twice_is_refused(tmp_path: Path) -> None:
    from lockstep.reference.data import DataError, _load_csv

    path = tmp_path / "d.csv"
    path.write_text("a,y,y\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match="column `y` appears 2 times in the header; name the target by its index"):
        _load_csv(path, "y", True, ",")
    _, y = _load_csv(path, 2, True, ",")  # by index it is unambiguous
    assert y.tolist() == [3.0, 6.0]


def test_a_predictions_only_backend_is_refused_before_a_run_folder_exists(tmp_path: Path) -> None:
    """`lockstep run --backend onnxruntime` raised UnsupportedConstruct at the first step (a traceback) and left a
    half-made run folder that the next try refused."""
    pytest.importorskip("onnxruntime")
    import lockstep
    from lockstep.errors import LockstepError

    with pytest.raises(LockstepError, match=r"backend `onnxruntime` cannot train a recipe: it computes predictions "
                                            r"only \(conformance levels 1\)"):
        lockstep.run(_recipe(tmp_path), backend="onnxruntime", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_data_parallel_run_records_its_resolved_recipe_and_overrides(tmp_path: Path) -> None:
    """Data-parallel runs wrote no recipe.resolved.yaml, and their report.json had no `overrides`: the `--set`s in
    force were recorded nowhere (deploy reads them)."""
    import json

    recipe = _recipe(tmp_path)
    out = tmp_path / "dp"
    done = _cli("run", str(recipe), "--replicas", "2", "--steps", "2", "--out", str(out), "--quiet",
                "--set", "optimizer.learning_rate=0.05", timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["overrides"] == ["--set optimizer.learning_rate=0.05"], report.get("overrides")
    assert report["recipe_resolved"]["file"] == "recipe.resolved.yaml"
    assert "learning_rate: 0.05" in (out / "recipe.resolved.yaml").read_text()


def test_resuming_on_another_backend_is_said_and_recorded(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A run resumed with another --backend continued silently and its report named only the new backend."""
    pytest.importorskip("torch")
    import json

    import lockstep

    recipe = _recipe(tmp_path)
    text = recipe.read_text().replace("training: {steps: 2}", "training: {steps: 4}\ncheckpoint: {every: 2}")
    recipe.write_text(text)
    lockstep.run(recipe, backend="reference", out=tmp_path / "run", steps=2)
    capsys.readouterr()
    lockstep.run(recipe, backend="torch", out=tmp_path / "run", resume=True)
    said = capsys.readouterr().err
    assert "the checkpoint at step 2 was written by `reference`; the steps after it run on `torch`" in said, said
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert (report["backend"], report["resumed_from"], report["resumed_from_backend"]) == ("torch", 2, "reference")


@pytest.mark.parametrize("error", [RuntimeError("vendor bug"), SystemExit(3)])
def test_a_backend_failing_to_build_is_one_sentence(error: BaseException, tmp_path: Path) -> None:
    """A third-party adapter's own exception in build() (anything but ValueError) was a traceback from `run`."""
    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.runner import build_session

    class Failing(ReferenceAdapter):
        name = "failing"

        def build(self, *args, **kwargs):
            raise error

    import lockstep.adapters.registry as registry

    prep = prepare_run(_recipe(tmp_path))
    original = registry.get
    registry.get = lambda name: Failing()  # type: ignore[assignment]
    try:
        with pytest.raises(RunError, match=rf"backend `failing` could not build a session: {type(error).__name__}"):
            build_session(prep, "failing")
    finally:
        registry.get = original
