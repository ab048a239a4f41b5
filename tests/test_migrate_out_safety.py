"""`lockstep migrate` never overwrites an input nor a file it was not asked to replace, and follows the model file a
recipe names the same way in place, under `--check` and under `--out` (findings of a report-only sweep)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lockstep.cli import main
from lockstep.spec.migrations import CURRENT

OLD_MODEL = """apiVersion: lockstep/v1alpha1
kind: Model
metadata: {name: m}
inputs:
  - {name: x, shape: [4]}
layers:
  - {type: dense, name: out, units: 2}
"""

OLD_RECIPE = """apiVersion: lockstep/v1alpha1
kind: Recipe
metadata: {name: r}
model: models/m.yaml
seed: 1
dtype: float64
data:
  source: {type: npz, path: data/d.npz}
  batch_size: 4
loss: {type: mse}
optimizer: {type: sgd, lr: 0.1}
training: {steps: 3}
"""


def _tree(root: Path, recipe: str = OLD_RECIPE) -> Path:
    """root/t/sub/{r.yaml, models/m.yaml, data/d.npz}, written against lockstep/v1alpha1; returns root/t."""
    sub = root / "t" / "sub"
    (sub / "models").mkdir(parents=True)
    (sub / "data").mkdir()
    (sub / "models" / "m.yaml").write_text(OLD_MODEL)
    (sub / "r.yaml").write_text(recipe)
    rng = np.random.default_rng(0)
    np.savez(sub / "data" / "d.npz", x=rng.random((16, 4)), y=rng.random((16, 2)))
    return root / "t"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------- links and inputs under --out
def test_a_link_under_out_is_never_written_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = _tree(tmp_path)
    before = _files(t)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    os.symlink("../../t/sub/models/m.yaml", out / "sub" / "r.yaml")  # the recipe's target leads to an input
    assert main(["migrate", str(t), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'sub' / 'r.yaml'}: is a symbolic link" in err and "nothing written" in err
    assert _files(t) == before  # the input model untouched, no data copied into the input tree
    assert sorted(p.name for p in out.rglob("*")) == ["r.yaml", "sub"]  # nothing written beside the link


def test_a_linked_folder_under_out_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = _tree(tmp_path)
    before = _files(t)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    os.symlink(t / "sub" / "data", out / "sub" / "models")  # the model's copy would land in the input tree
    assert main(["migrate", str(t), "--out", str(out)]) == 2
    assert f"{out / 'sub' / 'models'}: is a symbolic link" in capsys.readouterr().err
    assert _files(t) == before


def test_out_linked_to_the_input_folder_writes_nothing(tmp_path: Path) -> None:
    t = _tree(tmp_path)
    before = _files(t)
    (tmp_path / "out").symlink_to(t)
    assert main(["migrate", str(t), "--out", str(tmp_path / "out")]) == 2  # each file over itself
    assert _files(t) == before


def test_a_dangling_link_under_out_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = _tree(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(tmp_path / "elsewhere.yaml", out / "r.yaml")
    assert main(["migrate", str(t / "sub" / "r.yaml"), "--out", str(out)]) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere.yaml").exists() and not (out / "models").exists()


# ------------------------------------------------------------------------------- existing files under --out
def test_an_existing_file_with_other_content_is_refused_unless_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = _tree(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    mine = "apiVersion: lockstep/v1\n# my own hand-edited recipe\nkind: Recipe\n"
    (out / "r.yaml").write_text(mine)
    assert main(["migrate", str(t / "sub" / "r.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'r.yaml'}: exists with other content" in err and "--overwrite" in err
    assert (out / "r.yaml").read_text() == mine
    assert sorted(p.name for p in out.iterdir()) == ["r.yaml"]  # all or nothing: no model, no data copied
    assert main(["migrate", str(t / "sub" / "r.yaml"), "--out", str(out), "--overwrite"]) == 0
    assert f"apiVersion: {CURRENT}" in (out / "r.yaml").read_text() and (out / "models" / "m.yaml").is_file()


def test_a_rerun_into_the_same_folder_is_fine(tmp_path: Path) -> None:
    t = _tree(tmp_path)
    out = tmp_path / "out"
    assert main(["migrate", str(t), "--out", str(out)]) == 0
    first = _files(out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert main(["migrate", str(t), "--out", str(out)]) == 0  # the same content: nothing to refuse
    assert _files(out) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps  # and nothing rewritten


def test_a_changed_data_file_under_out_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = _tree(tmp_path)
    out = tmp_path / "out"
    assert main(["migrate", str(t), "--out", str(out)]) == 0
    (out / "sub" / "data" / "d.npz").write_bytes(b"not the input's data")
    assert main(["migrate", str(t), "--out", str(out)]) == 2
    assert f"{out / 'sub' / 'data' / 'd.npz'}: exists with other content" in capsys.readouterr().err


def test_overwrite_needs_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = _tree(tmp_path)
    assert main(["migrate", str(t), "--overwrite"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert "v1alpha1" in (t / "sub" / "r.yaml").read_text()


# ------------------------------------------------------------------------- a model file a recipe names
def _current_recipe(root: Path) -> Path:
    t = _tree(root, OLD_RECIPE.replace("lockstep/v1alpha1", CURRENT).replace("lr: 0.1", "learning_rate: 0.1"))
    return t / "sub" / "r.yaml"


def test_check_reports_the_old_model_file_a_current_recipe_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _current_recipe(tmp_path)
    assert main(["migrate", "--check", str(recipe)]) == 1
    out = capsys.readouterr().out
    assert "models/m.yaml: needs migrating from lockstep/v1alpha1" in out
    assert main(["migrate", "--check", str(recipe), "--out", str(tmp_path / "o")]) == 1  # --out or not: the same
    assert not (tmp_path / "o").exists()


def test_in_place_migrates_the_model_file_a_current_recipe_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = _current_recipe(tmp_path)
    assert main(["migrate", str(recipe)]) == 0
    assert f"apiVersion: {CURRENT}" in (recipe.parent / "models" / "m.yaml").read_text()
    assert "models/m.yaml: migrated from lockstep/v1alpha1" in capsys.readouterr().out
    assert main(["migrate", "--check", str(recipe)]) == 0


def test_in_place_does_not_follow_a_model_link_out_of_the_folder(tmp_path: Path) -> None:
    recipe = _current_recipe(tmp_path)
    outside = tmp_path / "outside.yaml"
    outside.write_text(OLD_MODEL)
    (recipe.parent / "models" / "m.yaml").unlink()
    os.symlink(outside, recipe.parent / "models" / "m.yaml")
    main(["migrate", str(recipe)])
    assert outside.read_text() == OLD_MODEL  # the loader refuses it too: validation's to say


# ------------------------------------------------------------------------------------- unreadable paths
def test_a_dangling_link_in_a_folder_is_one_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = _tree(tmp_path)
    os.symlink("nowhere.yaml", t / "sub" / "broken.yaml")
    assert main(["migrate", str(t)]) == 2
    err = capsys.readouterr().err
    assert f"{t / 'sub' / 'broken.yaml'}: broken symbolic link" in err and ":0:0" not in err
    assert f"apiVersion: {CURRENT}" in (t / "sub" / "r.yaml").read_text()  # the rest migrated


def test_a_missing_path_is_said_without_a_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'missing.yaml'}: no such file or folder" in err and ":0:0" not in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another owner needs root")
def test_in_place_keeps_the_file_s_owner_group_and_mode(tmp_path: Path) -> None:
    """The migrated file was the migrating user's, with their primary group (root:root for nobody:users 660): a
    shared, group-writable spec locked its team out. Owner, group and mode are kept where the writer may."""
    path = tmp_path / "m.yaml"
    path.write_text(OLD_MODEL)
    os.chown(path, 65534, 100)
    os.chmod(path, 0o660)
    assert main(["migrate", str(path)]) == 0
    st = path.stat()
    assert f"apiVersion: {CURRENT}" in path.read_text()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 100, 0o660), (st.st_uid, st.st_gid, oct(st.st_mode))


def test_keep_owner_keeps_the_group_where_the_owner_cannot_be_kept(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """As a member of the file's group, not its owner: the group is kept (fchown to another owner is refused)."""
    from lockstep.spec import atomic

    path = tmp_path / "f"
    path.write_text("x")
    calls: list[tuple[int, int]] = []

    def fchown(fd: int, uid: int, gid: int) -> None:
        calls.append((uid, gid))
        if uid != -1:
            raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchown", fchown)
    fd = os.open(tmp_path / "g", os.O_WRONLY | os.O_CREAT)
    try:
        atomic._keep_owner(fd, path)
    finally:
        os.close(fd)
    st = path.stat()
    assert calls == [(st.st_uid, st.st_gid), (-1, st.st_gid)]
