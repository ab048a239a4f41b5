"""Version migration: the registry, validation through migration, and `lockstep migrate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockstep.cli import main
from lockstep.spec import migrations
from lockstep.spec.base import SUPPORTED_VERSIONS
from lockstep.spec.loader import load_file, load_text
from lockstep.spec.migrations import CURRENT, MIGRATABLE, chain, migrate, migration, needs_migration

OLD = """# yaml-language-server: $schema=../spec/schemas/v1/recipe.schema.json
# A recipe written against the pre-release.
apiVersion: lockstep/v1alpha1
kind: Recipe
metadata: {name: old}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {name: m}
  inputs: [{name: x, shape: [3]}]
  layers: [{type: dense, units: 1}]
seed: 0
data:
  source: {type: synthetic_regression, num_samples: 16, shape: [3]}
  batch_size: 4
loss: {type: mse}
optimizer: {type: adam, lr: 0.1, eps: 1.0e-7}
clip_norm: 1.0
training: {steps: 2}
"""

MODEL = """apiVersion: lockstep/v1
kind: Model
metadata: {name: m}
inputs: [{name: x, shape: [3]}]
layers: [{type: dense, units: 1}]
"""


def data(text: str = OLD) -> dict:
    return load_text(text, "old.yaml")[0].data


# ---------------------------------------------------------------------------------------- registry
def test_versions() -> None:
    assert CURRENT == SUPPORTED_VERSIONS[-1] == "lockstep/v1"
    assert "lockstep/v1alpha1" in MIGRATABLE and CURRENT not in MIGRATABLE
    assert chain("lockstep/v1alpha1") == ["lockstep/v1alpha1", "lockstep/v1"]
    assert chain(CURRENT) == [CURRENT]
    with pytest.raises(ValueError, match="no migration from `lockstep/v9`"):
        chain("lockstep/v9")


def test_v1alpha1_renames_keep_positions_and_copy() -> None:
    old = data()
    new = migrate(old)
    assert new["apiVersion"] == CURRENT
    assert new["optimizer"] == {"type": "adam", "learning_rate": 0.1, "epsilon": 1e-7}
    assert list(new["optimizer"]) == ["type", "learning_rate", "epsilon"]
    assert new["gradient_clipping"] == {"type": "global_norm", "max_norm": 1.0}
    assert list(new).index("gradient_clipping") == list(old).index("clip_norm")
    assert old["apiVersion"] == "lockstep/v1alpha1" and "lr" in old["optimizer"]  # the input is untouched


def test_a_null_clip_norm_migrates_to_no_clipping(tmp_path: Path) -> None:
    """`clip_norm: null` (no clipping, as in v1 an optional field's null is its absence) became
    `gradient_clipping: {type: global_norm, max_norm: null}`, which v1 refuses: validate and migrate said
    "gradient_clipping.max_norm: expected a number, got null"."""
    from lockstep.spec.resolve import resolve_document

    old = OLD.replace("clip_norm: 1.0", "clip_norm: null")
    new = migrate(data(old))
    assert new["gradient_clipping"] is None
    assert list(new).index("gradient_clipping") == list(data(old)).index("clip_norm")
    resolved, problems = resolve_document(load_text(old, "old.yaml")[0])
    assert not problems and resolved is not None and resolved.document.gradient_clipping is None, problems
    (tmp_path / "old.yaml").write_text(old)
    assert main(["migrate", str(tmp_path / "old.yaml")]) == 0
    assert "gradient_clipping: null" in (tmp_path / "old.yaml").read_text()
    assert main(["validate", str(tmp_path / "old.yaml")]) == 0


def test_sgd_eps_is_not_renamed_and_unknowns_are_left_for_validation() -> None:
    new = migrate({"apiVersion": "lockstep/v1alpha1", "kind": "Recipe", "optimizer": {"type": "sgd", "eps": 1}})
    assert new["optimizer"] == {"type": "sgd", "eps": 1}


def test_inline_model_is_migrated_by_its_own_version() -> None:
    doc = data().copy()
    doc["apiVersion"] = CURRENT
    doc["model"] = {**doc["model"], "apiVersion": "lockstep/v1alpha1"}
    assert needs_migration(doc)
    assert migrate(doc)["model"]["apiVersion"] == CURRENT


@pytest.mark.parametrize("value", [None, "lockstep/v9", ["lockstep/v1alpha1"], 3, {"a": 1}])
def test_odd_versions_are_left_alone(value: object) -> None:
    doc = {"apiVersion": value, "kind": "Model"}
    assert not needs_migration(doc) and migrate(doc) == doc
    assert not needs_migration([1, 2]) and not needs_migration("text")


def test_chains_of_several_steps(monkeypatch) -> None:
    monkeypatch.setattr(migrations, "_REGISTRY", dict(migrations._REGISTRY))
    monkeypatch.setattr(migrations, "MIGRATABLE", migrations.MIGRATABLE)

    @migration("lockstep/v0", "lockstep/v1alpha1")
    def _v0(doc: dict) -> dict:
        doc["metadata"] = {"name": doc.pop("name")}
        return doc

    assert chain("lockstep/v0") == ["lockstep/v0", "lockstep/v1alpha1", "lockstep/v1"]
    new = migrate({"apiVersion": "lockstep/v0", "kind": "Recipe", "name": "n", "optimizer": {"lr": 1}})
    assert new == {"apiVersion": CURRENT, "kind": "Recipe", "metadata": {"name": "n"},
                   "optimizer": {"learning_rate": 1}}
    assert "lockstep/v0" in migrations.MIGRATABLE
    with pytest.raises(ValueError, match="already registered"):
        migration("lockstep/v0", CURRENT)(_v0)


def test_registry_refuses_bad_registrations() -> None:
    with pytest.raises(ValueError, match="validates natively"):
        migration(CURRENT, "lockstep/v2")
    with pytest.raises(ValueError, match="to itself"):
        migration("lockstep/v0", "lockstep/v0")


def test_old_version_validates_through_migration(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(OLD)
    assert main(["validate", str(tmp_path / "old.yaml")]) == 0


# ----------------------------------------------------------------------------------------- command
def test_check_reports_and_writes_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(OLD)
    assert main(["migrate", "--check", str(path)]) == 1
    assert path.read_text() == OLD
    assert "needs migrating from lockstep/v1alpha1 to lockstep/v1" in capsys.readouterr().out


def test_in_place_keeps_the_header_comments_and_is_idempotent(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(OLD)
    assert main(["migrate", "--in-place", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../spec/schemas/v1/recipe.schema.json\n# A recipe")
    (doc,) = load_file(path)
    assert doc.data["apiVersion"] == CURRENT and doc.data["optimizer"]["learning_rate"] == 0.1
    assert main(["validate", str(path)]) == 0
    capsys.readouterr()
    assert main(["migrate", str(path)]) == 0
    assert "already lockstep/v1" in capsys.readouterr().out
    assert path.read_text() == text
    assert main(["migrate", "--check", str(path)]) == 0


def test_an_interrupted_migrate_has_said_which_files_it_wrote(tmp_path: Path, capsys,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C on the third of three files: the two written were each listed as they were done, and the last
    line counts them; the third is as it was."""
    from lockstep.spec import atomic

    paths = [tmp_path / f"old{i}.yaml" for i in range(3)]
    for p in paths:
        p.write_text(OLD)
    real, calls = atomic.write_text, []

    def write_text(path, text):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(atomic, "write_text", write_text)
    assert main(["migrate", *map(str, paths)]) == 130
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{p}: migrated from lockstep/v1alpha1 to lockstep/v1" for p in paths[:2]]
    assert "stopped with 2 files written (listed above); the other files are as they were" in err, err
    assert err.endswith("interrupted\n") and paths[2].read_text() == OLD


def test_out_keeps_relative_paths_and_copies_current_files(tmp_path: Path) -> None:
    src = tmp_path / "src" / "sub"
    src.mkdir(parents=True)
    head, tail = OLD.split("model:\n", 1)
    (src / "recipe.yaml").write_text(head + "model: model.yaml\nseed:" + tail.split("seed:", 1)[1])
    (src / "model.yaml").write_text(MODEL)
    out = tmp_path / "out"
    assert main(["migrate", str(tmp_path / "src"), "--out", str(out)]) == 0
    assert (out / "sub" / "model.yaml").read_text() == MODEL
    assert load_file(out / "sub" / "recipe.yaml")[0].data["apiVersion"] == CURRENT
    assert "lockstep/v1alpha1" in (src / "recipe.yaml").read_text()  # the sources are untouched
    assert main(["validate", str(out)]) == 0


@pytest.mark.parametrize("name", ["old.json", "OLD.JSON", "old.Json"])
def test_json_stays_json(tmp_path: Path, name: str) -> None:
    """A `.JSON` file (read as JSON, like `.json`) was rewritten as YAML, which its next read then refused."""
    path = tmp_path / name
    path.write_text(json.dumps(data()))
    assert main(["migrate", str(path)]) == 0
    assert json.loads(path.read_text())["optimizer"]["learning_rate"] == 0.1
    assert main(["validate", str(path)]) == 0


def test_invalid_after_migration_is_not_written(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.yaml"
    bad = OLD.replace("batch_size: 4", "batch_size: 0")
    path.write_text(bad)
    assert main(["migrate", str(path)]) == 1
    assert path.read_text() == bad
    err = capsys.readouterr().err
    assert "data.batch_size" in err and "not written" in err and "Traceback" not in err


def test_unknown_and_odd_versions(tmp_path: Path, capsys) -> None:
    (tmp_path / "v9.yaml").write_text(MODEL.replace("lockstep/v1", "lockstep/v9"))
    assert main(["migrate", str(tmp_path / "v9.yaml")]) == 1
    assert "unknown spec version `lockstep/v9`" in capsys.readouterr().err
    (tmp_path / "odd.yaml").write_text(MODEL.replace("lockstep/v1", "[1, 2]"))
    assert main(["migrate", str(tmp_path / "odd.yaml")]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_usage_and_io_errors(tmp_path: Path, capsys) -> None:
    assert main(["migrate", str(tmp_path / "missing.yaml")]) == 2
    (tmp_path / "m.yaml").write_text(MODEL)
    assert main(["migrate", "--in-place", "--out", str(tmp_path), str(tmp_path / "m.yaml")]) == 2
    assert main(["migrate"]) == 2
    (tmp_path / "broken.yaml").write_text("a: [1\n")
    assert main(["migrate", str(tmp_path / "broken.yaml")]) == 1
