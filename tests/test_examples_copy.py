"""`python -m lockstep.examples DEST`: the tutorials' `examples/` for a user who installed the wheel (sweep W,
2026-12-07: `cp -r examples/digits-mlp my-recipe` failed outside a clone, and no page said where they were)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from lockstep.cli import main as lockstep

ROOT = Path(__file__).resolve().parents[1]


def _copy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockstep.examples", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_the_examples_are_copied_into_a_new_folder_and_validate(tmp_path: Path, capsys) -> None:
    done = _copy(cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done
    copied = tmp_path / "examples"
    recipes = sorted(p.parent.name for p in copied.glob("*/recipe.yaml"))
    assert recipes == sorted(p.parent.name for p in (ROOT / "examples").glob("*/recipe.yaml")
                             if p.parent.name != "acme-adapter"), recipes
    assert done.stdout.startswith(f"copied {len(recipes)} example recipes into examples/: ")
    assert (copied / "onnx-cpu.environment.yaml").is_file() and not list(copied.rglob("*.pyc"))
    assert oct(copied.stat().st_mode & 0o777) == oct(0o777 & ~_umask()), "a folder like any other"
    for path in copied.rglob("*.yaml"):  # the editor's schema comment leads to a schema in the copy, relative
        for target in re.findall(r"\$schema=(\S+)", path.read_text(encoding="utf-8")):  # (movable, committable)
            assert not os.path.isabs(target) and (path.parent / target).resolve().is_relative_to(copied.resolve())
            assert (path.parent / target).is_file(), (path, target)
    assert sorted(p.name for p in (copied / "schemas" / "v1").glob("*.json")) == sorted(
        p.name for p in (ROOT / "spec" / "schemas" / "v1").glob("*.json"))
    assert lockstep(["validate", str(copied)]) == 0, capsys.readouterr()


def test_an_existing_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "mine.txt").write_text("keep")
    done = _copy(cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done
    assert done.stderr == ("python -m lockstep.examples: examples already exists; choose a new folder (nothing is "
                           "copied over files)\n")
    assert os.listdir(tmp_path / "examples") == ["mine.txt"]
    assert os.listdir(tmp_path) == ["examples"], "no staging folder left behind"
    done = _copy(str(tmp_path / "examples" / "mine.txt" / "x"), cwd=tmp_path)  # under a file
    assert done.returncode == 2 and "cannot copy the examples into" in done.stderr and "Traceback" not in done.stderr


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
