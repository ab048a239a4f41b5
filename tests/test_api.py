"""The Python API as its users call it: `import lockstep` and the public names, nothing else of the package.

A platform team validates from its own CI tool, a researcher trains from a notebook and reads arrays back, a
vendor certifies from its own harness: each test is one of those calls, checked against what the matching
`lockstep` command does with the same input (the CLI is a thin layer on these functions).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tests_support import tiny_recipe

import lockstep

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits-mlp" / "recipe.yaml"
MISTAKES = ROOT / "docs" / "tutorials" / "mistakes"

TINY = tiny_recipe(
    layers="\n    - {type: dense, name: hidden, units: 8}\n    - {type: relu}"
           "\n    - {type: dense, name: out, units: 3}",
    data="  split: {validation: 0.25}\n",
    tail="evaluation: {every: 5, metrics: [loss, accuracy]}\ncheckpoint: {every: 10}\n")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockstep", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


# ------------------------------------------------------------------------------------------- import
def test_import_lockstep_is_light_and_lists_the_api() -> None:
    code = ("import sys, lockstep\n"
            "heavy = [m for m in ('numpy', 'pydantic', 'yaml', 'hypothesis', 'torch', 'tensorflow', 'onnxruntime')"
            " if m in sys.modules]\n"
            "print(heavy, sorted(lockstep.__all__))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("[] "), f"`import lockstep` imported {out}"
    for name in ("load", "validate", "run", "compare", "certify", "deploy", "dump", "RunResult", "Certificate",
                 "Comparison", "Diagnostic", "LockstepError"):
        assert f"'{name}'" in out, f"{name} missing from lockstep.__all__: {out}"


BLOCKED = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class NoFrameworks(MetaPathFinder):
        # As on a machine where no framework is installed: importing one fails.
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "tensorflow", "keras", "onnx", "onnxruntime", "jax", "tensorboard"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoFrameworks())
""")


def test_everything_above_the_api_works_without_any_framework(tiny: Path, tmp_path: Path) -> None:
    """With torch, TensorFlow, ONNX and TensorBoard unimportable: every module of the API and the commands
    imports, and load, validate, dump, run, compare and certify work on the reference."""
    code = BLOCKED + textwrap.dedent(f"""
        import importlib, pkgutil
        import lockstep, lockstep.commands
        sys.path.insert(0, {str(Path(__file__).parent)!r})  # reference_twin, the second backend of compare
        for m in ["lockstep.api", "lockstep.certificate", "lockstep.compare", "lockstep.deploy", "lockstep.runner",
                  "lockstep.tensorboard", "lockstep.cli", "lockstep.spec",
                  *(f"lockstep.commands.{{i.name}}" for i in pkgutil.iter_modules(lockstep.commands.__path__))]:
            importlib.import_module(m)
        recipe = lockstep.load({str(tiny)!r})
        assert not lockstep.validate([{str(tiny)!r}])
        lockstep.dump(recipe, {str(tmp_path / "copy.yaml")!r})
        result = lockstep.run(recipe, out={str(tmp_path / "run")!r}, overrides={{"training.steps": 10}})
        assert result.steps == 10 and result.parameters["hidden.weight"].shape == (4, 8)
        c = lockstep.compare(recipe, backends=["reference", "reference_twin:ReferenceTwin"],
                             steps=3)
        assert c.agree
        cert = lockstep.certify("reference", levels=[1], dtypes=["float64"], constructs=["dense"], examples=2,
                                report=False, log=lambda m: None)
        assert cert.certified and cert.counts()["pass"] == 1
        try:
            lockstep.run(recipe, backend="torch", out={str(tmp_path / "torch")!r})
        except lockstep.LockstepError as exc:
            assert exc.exit_code == 2 and "lockstep-standard[torch]" in str(exc), exc
        else:
            raise AssertionError("torch ran without torch")
        for m in ("torch", "tensorflow", "onnxruntime"):
            assert m not in sys.modules, m
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


# ------------------------------------------------------------------------------------------- load
def test_load_returns_the_validated_document_and_where_it_was_written() -> None:
    recipe = lockstep.load(DIGITS)
    assert isinstance(recipe, lockstep.spec.Recipe) and recipe.optimizer.type == "adam"
    where = lockstep.provenance(recipe)
    assert where is not None and where.file == str(DIGITS)
    line = next(i for i, t in enumerate(DIGITS.read_text().splitlines(), 1) if "learning_rate" in t)
    assert where.where("optimizer.learning_rate").line == line, where.where("optimizer.learning_rate")
    assert where.model is not None and where.model.metadata.name == "digits-mlp"  # model.yaml, resolved
    assert lockstep.provenance(recipe.model_copy()) is where  # a copy's relative paths mean the same files
    assert lockstep.provenance(lockstep.spec.Recipe.model_validate(recipe.model_dump())) is None  # built anew


def test_load_refuses_invalid_and_unreadable_files_with_the_cli_s_diagnostics(tmp_path: Path) -> None:
    with pytest.raises(lockstep.LockstepError) as bad:
        lockstep.load(MISTAKES / "recipe.yaml")
    assert bad.value.exit_code == 1
    shown = _cli("validate", str(MISTAKES / "recipe.yaml")).stdout.splitlines()[:-1]
    assert [d.format() for d in bad.value.diagnostics] == shown
    with pytest.raises(lockstep.LockstepError) as missing:
        lockstep.load(tmp_path / "nothing.yaml")
    assert missing.value.exit_code == 2 and "nothing.yaml" in missing.value.diagnostics[0].format()
    two = tmp_path / "two.yaml"
    two.write_text((ROOT / "examples" / "digits-mlp" / "model.yaml").read_text() + "---\n"
                   + (ROOT / "examples" / "onnx-cpu.environment.yaml").read_text())
    with pytest.raises(lockstep.LockstepError, match="holds 2 documents, expected one; pass kind="):
        lockstep.load(two)
    assert lockstep.load(two, kind="Environment").runtime == "onnxruntime"


# ------------------------------------------------------------------------------------------- validate
def test_validate_gives_the_diagnostics_the_cli_prints() -> None:
    found = lockstep.validate([MISTAKES])
    proc = _cli("validate", str(MISTAKES))
    assert proc.returncode == 1 and [d.format() for d in found] == proc.stdout.splitlines()[:-1]
    assert (found.files, found.documents, found.ok) == (2, 2, False)
    first = found[0]
    assert isinstance(first, lockstep.Diagnostic) and (first.line, first.column, first.path) == (12, 5, "layers[2]")
    assert "insert `{type: reshape, shape: [4, 36]}`" in first.message
    typo = next(d for d in found if d.path == "optimizer.lr")
    assert typo.suggestion == "learning_rate" and typo.file.endswith("recipe.yaml")
    ok = lockstep.validate(str(ROOT / "examples"))
    assert ok == [] and ok.ok and ok.files >= 10


# ------------------------------------------------------------------------------------------- dump
def test_a_recipe_built_in_python_dumps_loads_and_runs(tmp_path: Path) -> None:
    model = lockstep.spec.Model(apiVersion="lockstep/v1", kind="Model", metadata={"name": "mlp"},
                                inputs=[{"name": "x", "shape": [4]}],
                                layers=[{"type": "dense", "units": 8}, {"type": "relu"},
                                        {"type": "dense", "units": 2}])
    recipe = lockstep.spec.Recipe(
        apiVersion="lockstep/v1", kind="Recipe", metadata={"name": "built"}, model=model, seed=1,
        data={"source": {"type": "synthetic_regression", "num_samples": 64, "shape": [4], "targets": 2},
              "batch_size": 16},
        loss={"type": "mse"}, optimizer={"type": "sgd", "learning_rate": 0.05}, training={"steps": 8})
    text = lockstep.dump(recipe, tmp_path / "built.yaml")
    assert text == (tmp_path / "built.yaml").read_text() and text.startswith("apiVersion: lockstep/v1\nkind: Recipe\n")
    assert "dtype" not in text  # defaults are the standard's: not spelled out
    again = lockstep.load(tmp_path / "built.yaml")
    assert again == recipe
    ran = lockstep.run(recipe, out=tmp_path / "run")  # from the object, not the file
    from_file = lockstep.run(tmp_path / "built.yaml", out=tmp_path / "run2")
    assert ran.recipe_hash == from_file.recipe_hash and np.array_equal(ran.losses, from_file.losses)
    dumped = lockstep.dump(again, tmp_path / "built.json")
    assert json.loads(dumped) == json.loads((tmp_path / "built.json").read_text())


def test_dump_refuses_a_document_made_invalid_in_python_and_writes_nothing(tmp_path: Path) -> None:
    recipe = lockstep.load(DIGITS)
    recipe.optimizer.learning_rate = -1.0  # pydantic does not check assignments
    with pytest.raises(lockstep.LockstepError) as exc:
        lockstep.dump(recipe, tmp_path / "bad.yaml")
    assert exc.value.exit_code == 1 and not (tmp_path / "bad.yaml").exists()
    assert exc.value.diagnostics[0].format() == (f"{DIGITS}:31:18 (set in Python): optimizer.learning_rate: "
                                                 "expected a number > 0, got -1.0")  # as run says it
    built = type(recipe).model_validate(lockstep.load(DIGITS).model_dump())  # made in Python: no file to name
    built.optimizer.learning_rate = -1.0
    with pytest.raises(lockstep.LockstepError) as exc:
        lockstep.dump(built, tmp_path / "bad.yaml")
    assert exc.value.diagnostics[0].format() == ("<recipe digits-mlp>: optimizer.learning_rate: expected a number "
                                                 "> 0, got -1.0")
    with pytest.raises(lockstep.LockstepError, match="expected a Model, Recipe or Environment"):
        lockstep.dump({"kind": "Recipe"}, tmp_path / "dict.yaml")


def test_dump_checks_a_recipes_inline_model_too(tmp_path: Path) -> None:
    """Sweep P (2026-12-07): a recipe's inline model is a plain mapping to the Recipe's schema, and dump wrote
    `units: -3` without a word (a file validate then refused)."""
    recipe = lockstep.load(ROOT / "examples" / "huber-regression" / "recipe.yaml")
    edited = copy.deepcopy(recipe)
    edited.model["layers"][0]["units"] = -3
    with pytest.raises(lockstep.LockstepError, match="not written: the inline model is not valid") as exc:
        lockstep.dump(edited, tmp_path / "bad.yaml")
    assert exc.value.exit_code == 1 and not (tmp_path / "bad.yaml").exists()
    said = exc.value.diagnostics[0].format()  # at the recipe's line, as run says it (it was `<recipe NAME>`)
    assert said.startswith(str(ROOT / "examples" / "huber-regression" / "recipe.yaml") + ":") and said.endswith(
        " (set in Python): model.layers[0].units: expected an integer > 0, got -3"), said
    assert lockstep.dump(recipe, tmp_path / "good.yaml") and lockstep.validate(tmp_path / "good.yaml").ok


@pytest.mark.parametrize("update", [{"tolerance": None}, {"batch_sizes": [1, 1]},
                                    {"requirements": {"onnx": ">>=1"}}])
def test_dump_checks_an_environment_beyond_its_schema(tmp_path: Path, update: dict) -> None:
    """Sweep S (2026-12-07): dump wrote Environments that load and validate then refused (no tolerance for
    float32, a batch size twice, a specifier that is not PEP 440): no `run` reads one before a deploy does."""
    env = lockstep.load(ROOT / "examples" / "onnx-cpu.environment.yaml")
    with pytest.raises(lockstep.LockstepError, match="not written: the Environment is not valid") as exc:
        lockstep.dump(env.model_copy(update=update), tmp_path / "bad.yaml")
    assert exc.value.exit_code == 1 and exc.value.diagnostics and not (tmp_path / "bad.yaml").exists()
    assert lockstep.dump(env, tmp_path / "good.yaml") and lockstep.validate(tmp_path / "good.yaml").ok


def test_dump_of_a_loaded_recipe_into_a_folder_without_its_model_file_is_refused(tmp_path: Path) -> None:
    """digits-mlp names `model: model.yaml`: its dump into another folder loaded nowhere ("no such file")."""
    recipe = lockstep.load(DIGITS)
    with pytest.raises(lockstep.LockstepError) as exc:
        lockstep.dump(recipe, tmp_path / "copy.yaml")
    assert exc.value.exit_code == 2 and not (tmp_path / "copy.yaml").exists()
    assert f"not written: `model: model.yaml` names a file beside recipe.yaml in {DIGITS.parent}" in str(exc.value)
    assert f"lockstep migrate {DIGITS} --out {tmp_path}" in str(exc.value)
    (tmp_path / "model.yaml").write_text((DIGITS.parent / "model.yaml").read_text())
    lockstep.dump(recipe, tmp_path / "copy.yaml")  # the model file is there now
    assert lockstep.load(tmp_path / "copy.yaml") == recipe
    assert lockstep.dump(recipe) == (tmp_path / "copy.yaml").read_text()  # text only: nothing to check


# ------------------------------------------------------------------------------------------- run
def test_run_returns_arrays_history_and_the_folder_of_the_same_run_the_cli_makes(tiny: Path, tmp_path: Path
                                                                                 ) -> None:
    result = lockstep.run(tiny, out=tmp_path / "api", overrides=["optimizer.learning_rate=0.05"], seed=9)
    proc = _cli("run", str(tiny), "--out", str(tmp_path / "cli"), "--set", "optimizer.learning_rate=0.05",
                "--seed", "9", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "api" / "metrics.jsonl").read_bytes() == (tmp_path / "cli" / "metrics.jsonl").read_bytes()
    report = json.loads((tmp_path / "cli" / "report.json").read_text())
    assert isinstance(result, lockstep.RunResult) and result.report["recipe_hash"] == report["recipe_hash"]
    assert result.recipe.seed == 9 and result.recipe.optimizer.learning_rate == 0.05
    assert result.steps == 20 and result.losses.shape == (20,) and result.learning_rates[0] == 0.05
    steps, accuracy = result.metric("accuracy")
    assert list(steps) == [5, 10, 15, 20] and accuracy[-1] == result.metrics["accuracy"]
    assert set(result.parameters) == {"hidden.weight", "hidden.bias", "out.weight", "out.bias"}
    assert result.parameters["hidden.weight"].dtype == np.float64 and result.parameters["out.weight"].shape == (8, 3)
    assert result.folder == tmp_path / "api" and (result.folder / "loss.svg").is_file()
    assert result.fingerprint["numpy"]["version"] == np.__version__ and "cpu" in result.fingerprint
    assert proc.stdout.strip() == (f"tiny: 20 steps on reference; final train loss {result.final_loss:.4g}; eval "
                                   f"loss {result.metrics['loss']:.4g}, accuracy {result.metrics['accuracy']:.4g}; "
                                   f"outputs in {tmp_path / 'cli'}/")


def test_run_problems_are_lockstep_errors_with_the_cli_s_exit_codes(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(lockstep.LockstepError) as bad:
        lockstep.run(tiny, out=tmp_path / "a", overrides={"optimizer.lr": 0.1})
    assert bad.value.exit_code == 2 and [d.format() for d in bad.value.diagnostics] == [
        '--set optimizer.lr=0.1: unknown field `lr`; did you mean `learning_rate`?']
    with pytest.raises(lockstep.LockstepError, match="unknown adapter `nope`") as unknown:
        lockstep.run(tiny, backend="nope", out=tmp_path / "b")
    assert unknown.value.exit_code == 2 and not (tmp_path / "b").exists()
    with pytest.raises(lockstep.TrainingFailed) as failed:
        lockstep.run(tiny, out=tmp_path / "c", overrides={"optimizer.learning_rate": 1e300})
    assert failed.value.exit_code == 1 and "non-finite" in str(failed.value)
    assert failed.value.result.steps < 20 and failed.value.result.report["status"] == "failed"


def test_compare_and_certify_return_objects(tiny: Path, tmp_path: Path) -> None:
    c = lockstep.compare(tiny, backends=["reference", "reference_twin:ReferenceTwin"], steps=4)
    assert isinstance(c, lockstep.Comparison) and c.agree and len(c.rows) == 4
    twin = c.backends[1]
    assert c.worst(c.backends[0]) is None and c.worst(twin) is not None
    assert c.growth(c.backends[0]) is None  # the baseline's, as its worst (an unknown name is said below)
    # a list raised TypeError ("unhashable type"); an unknown name gave None, as the baseline's nothing-to-say does
    for call, words in [(lambda: c.worst(["torch"]), "backend: expected a name (str), got list"),
                        (lambda: c.worst("torch"), f"backend: no `torch` in this comparison (it has reference, "
                                                   f"{twin})"),
                        (lambda: c.growth(["torch"]), "key: expected a name (str), got list"),
                        (lambda: c.growth("torch"), f"key: no `torch` in this comparison (it has reference, {twin})")]:
        with pytest.raises(lockstep.LockstepError) as raised:
            call()
        assert str(raised.value).startswith(words), str(raised.value)
    seen: list[tuple[int, int]] = []
    cert = lockstep.certify("reference", levels="predictions,updates", dtypes="float64", constructs=["dense", "sgd"],
                            examples=2, report=tmp_path / "cert", progress=lambda d, t, r: seen.append((d, t)),
                            log=lambda m: None)
    assert isinstance(cert, lockstep.Certificate) and cert.certified and not cert.failures
    assert seen == [(1, 2), (2, 2)] and sum(cert.counts().values()) == 2  # the progress counts what the summary does
    back = lockstep.Certificate.read(tmp_path / "cert")
    assert back.checks == cert.checks and back.certified and back.files["json"] == tmp_path / "cert" / "report.json"
    with pytest.raises(lockstep.LockstepError, match="levels 'five'"):
        lockstep.certify("reference", levels="five")


def test_a_loaded_recipe_edited_in_python_is_checked_where_its_fields_were_written(tmp_path: Path) -> None:
    recipe = lockstep.load(DIGITS)
    recipe.optimizer.learning_rate = -1.0
    with pytest.raises(lockstep.LockstepError) as exc:
        lockstep.run(recipe, out=tmp_path / "run")
    line = lockstep.provenance(recipe).where("optimizer.learning_rate")
    assert [d.format() for d in exc.value.diagnostics] == [  # the line holds 0.003: the value is Python's
        f"{line} (set in Python): optimizer.learning_rate: expected a number > 0, got -1.0"]
    assert exc.value.exit_code == 2 and not (tmp_path / "run").exists()


def test_a_loaded_recipe_keeps_its_folder_when_the_current_folder_changes(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """load("a/recipe.yaml"), then a chdir: run trained the model.yaml of the new folder's `a/` (7 units here, not
    the loaded recipe's 32), and report.json named a recipe file that did not exist."""
    for where, units in (("p1", 32), ("p2", 7)):
        folder = tmp_path / where / "a"
        shutil.copytree(ROOT / "examples" / "digits-mlp", folder)
        text = (folder / "model.yaml").read_text()
        (folder / "model.yaml").write_text(text.replace("units: 32", f"units: {units}"))
    monkeypatch.chdir(tmp_path / "p1")
    recipe = lockstep.load("a/recipe.yaml")
    monkeypatch.chdir(tmp_path / "p2")
    result = lockstep.run(recipe, out=tmp_path / "out", steps=1, log=lambda _: None)
    assert result.parameters["hidden.weight"].shape == (64, 32), result.parameters["hidden.weight"].shape
    assert result.report["recipe_path"] == str(tmp_path / "p1" / "a" / "recipe.yaml"), result.report["recipe_path"]
    assert result.folder == tmp_path / "out" and result.folder.is_absolute()


def test_the_log_function_hears_every_note_of_a_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run(log=...) missed the notes the resume itself made (an unreadable checkpoint skipped, the checkpoint
    written by another backend): they went to stderr."""
    recipe = ROOT / "examples" / "inline-model" / "recipe.yaml"
    out = tmp_path / "run"
    lockstep.run(recipe, out=out, steps=2, overrides={"checkpoint": {"every": 1}}, log=lambda _: None)
    (out / "checkpoints" / "step-00000002.npz").write_bytes(b"torn")
    notes: list[str] = []
    capsys.readouterr()
    result = lockstep.run(recipe, out=out, resume=True, overrides={"checkpoint": {"every": 1}}, log=notes.append)
    assert result.resumed_from == 1 and capsys.readouterr().err == ""
    assert any("step-00000002.npz: unreadable checkpoint skipped" in n for n in notes), notes
