"""One reading of a document for every command (spec/resolve.py): a recipe and its model are read and validated
once, whichever command reads them, and what they resolve to keeps where each field was written."""

from __future__ import annotations

import collections
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from lockstep import api, runner
from lockstep.conformance import strategies as cs
from lockstep.spec import loader
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.loader import dump_yaml
from lockstep.spec.resolve import resolve_file

MODEL = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs: [{name: x, shape: [4]}]
layers:
  - {type: dense, units: 8}
  - {type: relu}
  - {type: dense, name: logits, units: 3}
"""

RECIPE = """apiVersion: lockstep/v1
kind: Recipe
metadata: {name: r}
model: %s
seed: 0
data:
  source: {type: synthetic_classification, num_samples: 64, shape: [4], num_classes: 3}
  batch_size: 16
loss: {type: sparse_categorical_crossentropy, from_logits: true}
optimizer:
  type: sgd
  learning_rate: 0.1
training: {steps: 3}
"""

INLINE = "\n" + "\n".join("  " + line for line in MODEL.splitlines())


def _write(folder: Path, inline: bool) -> Path:
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "models" / "m.yaml").write_text(MODEL)
    recipe = folder / "recipe.yaml"
    recipe.write_text(RECIPE % (INLINE if inline else "models/m.yaml"))
    return recipe


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, collections.Counter]:
    """How often each file is opened (every read of a document goes through the loader's `open_regular`) and
    each document kind is validated against its model class."""
    counts: dict[str, collections.Counter] = {"opened": collections.Counter(), "validated": collections.Counter()}
    opener = loader.open_regular

    def counting_open(path):
        counts["opened"][Path(path).resolve().name] += 1
        return opener(path)

    monkeypatch.setattr(loader, "open_regular", counting_open)
    for cls in (Model, Recipe):
        original = cls.model_validate

        def counting_validate(data, *args, _original=original, _kind=cls.__name__, **kwargs):
            counts["validated"][_kind] += 1
            return _original(data, *args, **kwargs)

        monkeypatch.setattr(cls, "model_validate", counting_validate)
    return counts


READERS = {
    "runner.prepare_run": lambda path: runner.prepare_run(path),
    "runner.load_recipe": lambda path: runner.load_recipe(path),
    "api run's recipe (with --set)": lambda path: api._effective(path, ["optimizer.learning_rate=0.05"]),
    "api.load": lambda path: api.load(path),
}


@pytest.mark.parametrize("inline", [False, True], ids=["model file", "inline model"])
@pytest.mark.parametrize("reader", READERS)
def test_a_recipe_and_its_model_are_read_and_validated_once(tmp_path: Path, counted, reader: str,
                                                             inline: bool) -> None:
    """Before, `prepare_run` read the recipe twice and the model file twice, and validated the model twice (once
    for the recipe's checks, once more to hand it to the runner); the API's run did the same for the model."""
    path = _write(tmp_path, inline)
    READERS[reader](path)
    opened, validated = counted["opened"], counted["validated"]
    assert opened["recipe.yaml"] == 1, f"{reader} read the recipe {opened['recipe.yaml']} times"
    assert opened["m.yaml"] == (0 if inline else 1), f"{reader} read the model file {opened['m.yaml']} times"
    assert validated == {"Recipe": 1, "Model": 1}, f"{reader} validated {dict(validated)}"


def test_resolved_documents_keep_where_each_field_was_written(tmp_path: Path) -> None:
    path = _write(tmp_path, inline=False)
    resolved, diags = resolve_file(path)
    assert diags == [] and len(resolved) == 1
    recipe = resolved[0]
    assert isinstance(recipe.document, Recipe) and recipe.file == str(path) and recipe.base_dir == tmp_path
    assert recipe.loaded.locate(("optimizer", "learning_rate")) == (12, 18)
    model = recipe.model
    assert model is not None and isinstance(model.document, Model)
    assert Path(model.file) == tmp_path / "models" / "m.yaml", model.file
    assert model.base_dir == tmp_path / "models", "a model's weights path resolves against the model's folder"
    assert model.loaded.locate(("layers", 2, "units")) == (8, 40)
    assert model.model is None


def test_an_inline_model_is_located_in_its_recipe(tmp_path: Path) -> None:
    path = _write(tmp_path, inline=True)
    (recipe,), diags = resolve_file(path)
    assert diags == []
    model = recipe.model
    assert model is not None and model.file == str(path) and model.base_dir == tmp_path
    assert model.loaded.locate(("layers", 2, "units")) == (12, 42)


def test_a_resolved_recipe_runs_as_the_one_the_runner_reads(tmp_path: Path) -> None:
    path = _write(tmp_path, inline=False)
    (resolved,), _ = resolve_file(path)
    eff = api._effective(path)
    assert eff.resolved == resolved and eff.model_dir == tmp_path / "models"
    assert (eff.recipe, eff.model, eff.base) == runner.load_recipe(path)


def test_a_model_file_problem_is_said_once_in_that_file(tmp_path: Path) -> None:
    path = _write(tmp_path, inline=False)
    (tmp_path / "models" / "m.yaml").write_text(MODEL.replace("units: 3", "units: 0"))
    resolved, diags = resolve_file(path)
    assert resolved == [] and len(diags) == 1, [d.format() for d in diags]
    assert Path(diags[0].file) == tmp_path / "models" / "m.yaml" and diags[0].line == 8
    with pytest.raises(runner.RunError) as err:
        runner.prepare_run(path)
    assert err.value.exit_code == 2 and err.value.diagnostics == diags


@given(st.one_of(st.sampled_from(cs.LAYERS).flatmap(cs.layer_model), cs.sequence_model(), cs.graph_model()))
def test_a_model_resolves_alike_inline_and_from_a_file(model: dict) -> None:
    """Where a recipe's model is written does not change what it resolves to: the same problems (said in the
    model file, or under `model.` in the recipe), the same validity, and for a valid recipe the same Model and
    the same hash (what checkpoints and reports identify a run by)."""
    last = (model.get("layers") or [{}])[-1]
    source = {"type": "synthetic_regression", "num_samples": 8, "shape": model["inputs"][0]["shape"],
              "targets": last.get("units", 1)}
    recipe = {"apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "r"}, "seed": 0,
              "data": {"source": source, "batch_size": 4},
              "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "learning_rate": 0.1}, "training": {"steps": 2}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "m.yaml").write_text(dump_yaml(model))
        (folder / "by-file.yaml").write_text(dump_yaml({**recipe, "model": "m.yaml"}))
        (folder / "inline.yaml").write_text(dump_yaml({**recipe, "model": model}))
        file_docs, file_diags = resolve_file(folder / "by-file.yaml")
        inline_docs, inline_diags = resolve_file(folder / "inline.yaml")
    note(f"inline: {[d.format() for d in inline_diags]}\nfile: {[d.format() for d in file_diags]}")
    in_model_file = {(d.path, d.message) for d in file_diags if Path(d.file).name == "m.yaml"}
    under_model = {(d.path.removeprefix("model."), d.message) for d in inline_diags if d.path.startswith("model.")}
    assert under_model == in_model_file, "the model's own problems depend on where it is written"
    assert bool(inline_docs) == bool(file_docs), (inline_diags, file_diags)
    if inline_docs:
        (inline,), (by_file,) = inline_docs, file_docs
        assert inline.model is not None and by_file.model is not None
        assert inline.model.document == by_file.model.document
        assert runner.recipe_hash(inline.document, inline.model.document) == \
            runner.recipe_hash(by_file.document, by_file.model.document)  # type: ignore[arg-type]
