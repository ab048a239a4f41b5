"""`--set dotted.path=value` and `--seed` on `lockstep run`: strict types, errors that name the override, the
effective recipe in the run folder (`recipe.resolved.yaml`) and its hash in report.json."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import strategies as docs
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_support import tiny_recipe

from lockstep.api import _effective
from lockstep.cli import main
from lockstep.errors import LockstepError
from lockstep.spec.loader import dump_yaml

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits-mlp" / "recipe.yaml"

TINY = tiny_recipe(dtype=None, optimizer="{type: sgd, learning_rate: 0.1}", steps=12)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _run(recipe: Path, out: Path, *args: str) -> int:
    return main(["run", str(recipe), "--out", str(out), "--quiet", *args])


@pytest.mark.parametrize("args, said", [
    (["--set", "optimizer.lr=0.1"], "--set optimizer.lr=0.1: unknown field `lr`; did you mean `learning_rate`?"),
    (["--set", "training.steps=50.0"], "--set training.steps=50.0: expected an integer, got 50.0; write 50"),
    (["--set", "training.steps='50'"], '--set training.steps=\'50\': expected an integer, got the string "50"; '
                                       "remove the quotes"),
    (["--set", "training.steps=0"], "--set training.steps=0: expected an integer > 0, got 0"),
    (["--set", "optimizer.learning_rate=.inf"], "--set optimizer.learning_rate=.inf: expected a finite number, "
                                                "got .inf"),
    (["--set", "optimizer.type=rmsprop", "--set", "optimizer.rho=2"],
     "--set optimizer.rho=2: expected a number < 1, got 2"),
    (["--set", "gradient_clipping.max_norm=1"], "--set gradient_clipping.max_norm=1: gradient_clipping.type: missing "
                                                "required field `type` (expected `global_norm` or `value`)"),
    (["--seed", "-1"], "--seed -1: expected an integer >= 0, got -1"),
    (["--set", "data.batch_size=500"], "--set data.batch_size=500: batch_size 500 exceeds the 96 training "
                                       "samples: every batch would be the whole training split"),
])
def test_an_invalid_override_is_named_and_nothing_runs(args: list[str], said: str, tiny: Path, tmp_path: Path,
                                                       capsys) -> None:
    assert _run(tiny, tmp_path / "out", *args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == said or err[0].startswith(said + " ("), err
    given = " ".join(args).replace(" --", ", --")  # how the summary lists the overrides
    assert err[1] == f"lockstep run: {tiny} with {given}: the recipe is not valid (1 problem)" and len(err) == 2, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, said", [
    (["--set", "optimizer"], "lockstep run: --set optimizer: expected KEY=VALUE, e.g. --set "
                             "optimizer.learning_rate=0.01"),
    (["--set", "=1"], "lockstep run: --set =1: expected KEY=VALUE"),
    (["--set", "a..b=1"], "lockstep run: --set a..b=1: `a..b` is not a dotted field path"),
    (["--set", "optimizer.learning_rate=[1,"], "lockstep run: --set optimizer.learning_rate=[1,: the value is not "
                                               "YAML"),
    (["--set", "optimizer.learning_rate.x=1"], "lockstep run: --set optimizer.learning_rate.x=1: "
                                               "`optimizer.learning_rate` is 0.1, not a mapping"),
    (["--set", "model.layers[7].units=1"], "lockstep run: --set model.layers[7].units=1: `model.layers` is a list "
                                           "of 3 items; `7` is not one of its indexes"),
    (["--set", "model.layers.x=1"], "lockstep run: --set model.layers.x=1: `model.layers` is a list of 3 items"),
    (["--set", "training.steps=1\n---\n2"], "lockstep run: --set training.steps=1\\n---\\n2: the value holds 2 YAML"),
    (["--set", "a\x1b[31m=1"], "lockstep run: --set a\\x1b[31m=1: `a\\x1b[31m` is not a dotted field path"),
    (["--set", "x\u202e.y=1"], "--set x\\u202e.y=1: x\\u202e: unknown field `x\\u202e`"),
])
def test_a_malformed_override_is_a_usage_error(args: list[str], said: str, tiny: Path, tmp_path: Path,
                                               capsys) -> None:
    assert _run(tiny, tmp_path / "out", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_an_override_into_a_model_file_says_to_inline_it(tmp_path: Path, capsys) -> None:
    assert _run(DIGITS, tmp_path / "out", "--set", "model.layers[0].units=3") == 2
    assert capsys.readouterr().err == ("lockstep run: --set model.layers[0].units=3: the recipe's model is the file "
                                       "`model.yaml`, which overrides do not change; give the model inline in the "
                                       "recipe, or edit that file\n")


def test_overrides_and_seed_change_the_run_and_are_recorded(tiny: Path, tmp_path: Path) -> None:
    assert _run(tiny, tmp_path / "plain") == 0
    assert _run(tiny, tmp_path / "set", "--set", "training.steps=7", "--set", "optimizer.learning_rate=1e-2",
                "--set", "evaluation={every: 7, metrics: [loss, accuracy]}", "--seed", "3") == 0
    plain = json.loads((tmp_path / "plain" / "report.json").read_text())
    report = json.loads((tmp_path / "set" / "report.json").read_text())
    records = [json.loads(line) for line in (tmp_path / "set" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 7 and records[0]["lr"] == 0.01 and set(records[-1]["eval"]) == {"loss", "accuracy"}
    assert report["recipe_hash"] != plain["recipe_hash"] and plain["overrides"] == []
    assert report["overrides"] == ["--set training.steps=7", "--set optimizer.learning_rate=1e-2",
                                   "--set evaluation={every: 7, metrics: [loss, accuracy]}", "--seed 3"]
    resolved = tmp_path / "set" / "recipe.resolved.yaml"
    assert report["recipe_resolved"] == {"file": "recipe.resolved.yaml",
                                         "sha256": hashlib.sha256(resolved.read_bytes()).hexdigest()}
    data = yaml.safe_load(resolved.read_text())
    assert data["seed"] == 3 and data["training"] == {"steps": 7} and data["optimizer"]["learning_rate"] == 0.01
    assert data["dtype"] == "float32" and data["optimizer"]["momentum"] == 0.0  # defaults filled in: what ran
    assert data["model"]["layers"][0] == {"type": "dense", "units": 8, "use_bias": True, "initializers": {}}
    # the effective recipe is itself a valid recipe, and the same one: its hash is the run's
    again = _effective(resolved)
    from lockstep.runner import recipe_hash

    assert recipe_hash(again.recipe, again.model) == report["recipe_hash"]
    # seeds: another seed, other initial weights, other losses
    assert _run(tiny, tmp_path / "seed4", "--set", "training.steps=7", "--set", "optimizer.learning_rate=1e-2",
                "--set", "evaluation={every: 7, metrics: [loss, accuracy]}", "--seed", "4") == 0
    other = [json.loads(line) for line in (tmp_path / "seed4" / "metrics.jsonl").read_text().splitlines()]
    assert other[0]["loss"] != records[0]["loss"]


def test_resume_with_other_overrides_is_refused_as_another_recipe(tiny: Path, tmp_path: Path, capsys) -> None:
    recipe = tiny.read_text().replace("training: {steps: 12}", "training: {steps: 12}\ncheckpoint: {every: 4}")
    tiny.write_text(recipe)
    assert _run(tiny, tmp_path / "out", "--set", "optimizer.learning_rate=0.05") == 0
    assert _run(tiny, tmp_path / "out", "--resume", "--set", "optimizer.learning_rate=0.05") == 0
    assert _run(tiny, tmp_path / "out", "--resume", "--set", "optimizer.learning_rate=0.06") == 2
    assert "recipe" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ properties
def _leaves(data: dict) -> list[tuple]:
    """Paths to scalar values that a user may override (inside the recipe or its inline model)."""
    out = []
    for path in docs.paths(data):
        value = docs.get(data, path)
        if not isinstance(value, (dict, list)) and path[0] not in ("apiVersion", "kind"):
            out.append(path)
    return out


def _key(path: tuple) -> str:
    text = ""
    for p in path:
        text += f"[{p}]" if isinstance(p, int) else ("." if text else "") + p
    return text


@settings(max_examples=30, deadline=None)
@given(data=docs.recipe_documents(), pick=st.randoms(use_true_random=False))
def test_setting_a_field_equals_editing_the_file(tmp_path_factory, data: dict, pick) -> None:
    """For any valid recipe and any scalar field in it, `--set field=<its value written as YAML>` gives the same
    validated recipe as the file itself, and setting another valid value gives what editing the file gives."""
    folder = tmp_path_factory.mktemp("o")
    leaves = [p for p in _leaves(data) if isinstance(p[-1], str) and "." not in p[-1] and "[" not in p[-1]
              and not any(isinstance(x, str) and not x.strip() for x in p)]
    path = pick.choice(leaves)
    value = docs.get(data, path)
    (folder / "r.yaml").write_text(dump_yaml(data))
    base = _effective(folder / "r.yaml")
    text = dump_yaml(value).removesuffix("\n...\n").strip()
    same = _effective(folder / "r.yaml", [f"{_key(path)}={text}"])
    assert same.recipe == base.recipe and same.model == base.model, (path, text)
    # another value of the same type where one is easy to name: the seed and the step count
    edited = copy.deepcopy(data)
    edited["seed"] = data["seed"] + 1
    edited["training"]["steps"] = data["training"]["steps"] + 1
    (folder / "e.yaml").write_text(dump_yaml(edited))
    by_file = _effective(folder / "e.yaml")
    by_set = _effective(folder / "r.yaml", {"training.steps": edited["training"]["steps"]}, seed=edited["seed"])
    assert by_set.recipe == by_file.recipe


def test_overrides_of_a_recipe_object_leave_the_object_alone(tmp_path: Path, tiny: Path) -> None:
    import lockstep

    recipe = lockstep.load(tiny)
    before = recipe.model_dump()
    eff = _effective(recipe, {"optimizer.learning_rate": 0.5})
    assert eff.recipe.optimizer.learning_rate == 0.5 and recipe.model_dump() == before
    with pytest.raises(LockstepError) as exc:
        _effective(recipe, {"training.steps": True})
    assert exc.value.diagnostics[0].format() == "--set training.steps=true: expected an integer, got true"


def test_a_file_s_problem_that_an_override_brings_out_names_the_overrides(tmp_path: Path, capsys) -> None:
    digits = ROOT / "examples" / "digits-mlp" / "recipe.yaml"
    assert _run(digits, tmp_path / "out", "--set", "training.steps=50") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("checkpoint.every: every 100 steps never happens in a run of 50 training steps "
                           "(expected at most 50)") and err[0].startswith(f"{digits}:")
    assert err[1] == f"lockstep run: {digits} with --set training.steps=50: the recipe is not valid (1 problem)"


def test_list_indexes_both_ways_and_one_string_override(tiny: Path) -> None:
    by_brackets = _effective(tiny, ["model.layers[0].units=5"])
    by_dots = _effective(tiny, "model.layers.0.units=5")  # a single string is one override
    assert by_brackets.model == by_dots.model and by_dots.model.layers[0].units == 5
    with pytest.raises(LockstepError) as exc:
        _effective(tiny, ["model.layers[0].units=0"])
    assert [d.format() for d in exc.value.diagnostics] == [
        "--set model.layers[0].units=0: expected an integer > 0, got 0"]


def test_the_resolved_recipe_names_a_model_file_s_weights_from_the_recipe_s_folder(tmp_path: Path) -> None:
    """recipe.resolved.yaml inlines a model written in models/model.yaml with `weights: {path: w.npz}` (models/w.npz),
    but kept `w.npz`, which its header says is relative to the recipe's folder: validate said it did not exist, and a
    ./w.npz there trained silently instead. It names models/w.npz now, and hashes as the run's recipe."""
    import numpy as np

    from lockstep.reference.initializers import initial_parameters
    from lockstep.runner import prepare_loaded
    from lockstep.spec.graph import build_graph

    text = tiny_recipe(steps=3)
    start, end = text.index("model:\n"), text.index("seed: 5")
    model = "\n".join(line[2:] for line in text[start:end].splitlines()[1:]) + "\n"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.yaml").write_text(model)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text[:start] + "model: models/model.yaml\n" + text[end:])
    params = initial_parameters(build_graph(_effective(recipe).model), 5)
    np.savez(tmp_path / "models" / "w.npz", **{k: v * 0.5 for k, v in params.items()})
    np.savez(tmp_path / "w.npz", **{k: v * 3.0 for k, v in params.items()})  # another file of that name, beside
    (tmp_path / "models" / "model.yaml").write_text(model + "weights: {path: w.npz}\n")
    assert _run(recipe, tmp_path / "out") == 0
    resolved = tmp_path / "out" / "recipe.resolved.yaml"
    assert yaml.safe_load(resolved.read_text())["model"]["weights"]["path"] == "models/w.npz"
    copied = tmp_path / "resolved.yaml"  # beside the recipe, where its header says its paths start
    copied.write_text(resolved.read_text())
    assert main(["validate", str(copied)]) == 0
    assert _run(copied, tmp_path / "again") == 0
    losses = [(tmp_path / f / "metrics.jsonl").read_text().splitlines()[0] for f in ("out", "again")]
    assert losses[0] == losses[1], losses
    again = _effective(copied)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert prepare_loaded(again.recipe, again.model, again.base).recipe_hash == report["recipe_hash"]
