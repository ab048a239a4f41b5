"""What the recipe hash covers (a checkpoint resumes, or deploys, only under the recipe it was trained by): it
counted a data path as written, so `--set data.source.path=./d.csv` then `--resume --set data.source.path=d.csv`
(the same file) was refused as another recipe's folder, and it counted `metadata.description`, which the standard
says no tool reads, so editing the description blocked `--resume`. A data path now counts by where it leads from
the recipe's folder, and the recipe's and model's description and labels are hashed as their defaults (a recipe
without them hashes as it did: its old checkpoints resume)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests_support import file_recipe

from lockstep.cli import main
from lockstep.effective import read
from lockstep.runner import recipe_hash

MODEL, RECIPE = file_recipe("{type: csv, path: d.csv, target: y, header: true, target_type: class_index}", steps=4,
                             tail="checkpoint: {every: 1}\n")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "d.csv").write_text("a,b,y\n0,1,0\n1,0,1\n1,1,1\n0,0,0\n")
    return tmp_path


def _hash(folder: Path, *overrides: str) -> str:
    eff = read(folder / "recipe.yaml", list(overrides))
    return recipe_hash(eff.recipe, eff.model, None, eff.base)


def test_one_data_file_spelled_two_ways_hashes_alike(folder: Path) -> None:
    plain = _hash(folder)
    for spelled in ("./d.csv", "sub/../d.csv", ".//d.csv"):
        assert _hash(folder, f"data.source.path={spelled}") == plain, spelled
    (folder / "e.csv").write_text((folder / "d.csv").read_text())
    assert _hash(folder, "data.source.path=e.csv") != plain  # another file is another recipe


def test_description_and_labels_are_not_hashed(folder: Path) -> None:
    plain = _hash(folder)
    assert _hash(folder, "metadata.description=now with words", "metadata.labels.team=x") == plain
    (folder / "model.yaml").write_text(MODEL.replace("{name: m}", "{name: m, description: a model, labels: {a: b}}"))
    assert _hash(folder) == plain
    assert _hash(folder, "seed=2") != plain and _hash(folder, "metadata.name=other") != plain


def test_a_recipe_without_them_hashes_as_before(folder: Path) -> None:
    """The hash as it was computed before (checkpoints written then carry it): unchanged for such a recipe."""
    eff = read(folder / "recipe.yaml")
    doc = eff.recipe.model_dump(mode="json")
    doc.pop("distribution", None)
    doc["model"] = eff.model.model_dump(mode="json")
    before = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                            .encode("utf-8")).hexdigest()
    assert recipe_hash(eff.recipe, eff.model, None, eff.base) == before


def test_resume_takes_another_spelling_and_a_new_description(folder: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    recipe, out = str(folder / "recipe.yaml"), str(folder / "out")
    assert main(["run", recipe, "-q", "--out", out, "--steps", "2", "--set", "data.source.path=./d.csv"]) == 0
    assert main(["run", recipe, "-q", "--out", out, "--steps", "3", "--resume",
                 "--set", "data.source.path=d.csv"]) == 0, capsys.readouterr().err
    (folder / "recipe.yaml").write_text(RECIPE.replace("{name: r}", "{name: r, description: edited, labels: {a: b}}"))
    assert main(["run", recipe, "-q", "--out", out, "--resume"]) == 0, capsys.readouterr().err
    assert "resumed at step 3" in capsys.readouterr().out
    assert main(["run", recipe, "-q", "--out", out, "--resume", "--set", "seed=2"]) == 2
    assert "the checkpoint is from a different recipe" in capsys.readouterr().err
