"""A bad LOCKSTEP_MEMORY_LIMIT is a usage error for `lockstep run` as for `lockstep validate`: named by the
environment variable, exit 2, no file position (it was reported at line 1 of the model file, as if the recipe
were not valid)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import file_recipe

from lockstep.cli import main

MODEL, RECIPE = file_recipe("{type: csv, path: d.csv, target: y, header: true, target_type: class_index}")


def test_bad_memory_limit_is_a_usage_error_for_run_as_for_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "d.csv").write_text("a,b,y\n0,1,0\n1,0,1\n")
    monkeypatch.setenv("LOCKSTEP_MEMORY_LIMIT", "garbage")
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == 2
    said_by_validate = capsys.readouterr().err
    assert main(["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == said_by_validate.strip().replace("lockstep validate:", "lockstep run:")
    assert "LOCKSTEP_MEMORY_LIMIT: `garbage` is not a size" in err
    assert "model.yaml" not in err and "not valid" not in err
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("LOCKSTEP_MEMORY_LIMIT", "none")  # the same recipe runs once the variable is a size
    assert main(["validate", str(tmp_path / "recipe.yaml")]) == 0
    assert main(["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "out")]) == 0


def test_bad_memory_limit_is_said_alike_by_deploy_compare_and_validate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """deploy said it as the recipe's problem (`lockstep deploy: /…/recipe.yaml: LOCKSTEP_MEMORY_LIMIT: …`); every
    command now says it as run does, from one check (lockstep.effective.check_memory_limit)."""
    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE + "checkpoint: {every: 1}\n")
    (tmp_path / "d.csv").write_text("a,b,y\n0,1,0\n1,0,1\n")
    (tmp_path / "env.yaml").write_text("apiVersion: lockstep/v1\nkind: Environment\nmetadata: {name: e}\n"
                                       "runtime: onnxruntime\ndevice: cpu\ndtype: float32\n"
                                       "tolerance: {rtol: 1.0e-4, atol: 1.0e-5}\n")
    monkeypatch.setenv("LOCKSTEP_MEMORY_LIMIT", "none")
    assert main(["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "run")]) == 0
    weights = next((tmp_path / "run" / "checkpoints").glob("step-*.npz"))
    capsys.readouterr()
    monkeypatch.setenv("LOCKSTEP_MEMORY_LIMIT", "lots")
    words = "LOCKSTEP_MEMORY_LIMIT: `lots` is not a size (say `16GiB`, `512M`, `8e9` bytes, or `none`)"
    for command in (["validate", str(tmp_path / "recipe.yaml")],
                    ["run", str(tmp_path / "recipe.yaml"), "-q", "--out", str(tmp_path / "out")],
                    ["compare", str(tmp_path / "recipe.yaml"), "--backends", "reference,torch"],
                    ["deploy", str(tmp_path / "run"), "--environment", str(tmp_path / "env.yaml"),
                     "--out", str(tmp_path / "d1")],
                    ["deploy", str(tmp_path / "recipe.yaml"), "--weights", str(weights), "--environment",
                     str(tmp_path / "env.yaml"), "--out", str(tmp_path / "d2")],
                    ["certify", "--adapter", "reference", "--construct", "dense", "--level", "1,4", "-q",
                     "--report", str(tmp_path / "c")]):  # certify said it as an error of each check, exit 1
        assert main(command) == 2, command
        captured = capsys.readouterr()
        assert captured.err.strip() == f"lockstep {command[0]}: {words}", (command, captured.err)
        assert not captured.out, (command, captured.out)
    assert not any((tmp_path / d).exists() for d in ("d1", "d2", "c"))


def test_the_python_api_says_a_bad_memory_limit_as_the_commands_do(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`lockstep.validate` reported it as a problem of the first model document (exit_code 1, a diagnostic at
    model.yaml:1:1); it is the commands' usage error now, and a `memory_limit` given wins over the variable."""
    import lockstep

    (tmp_path / "model.yaml").write_text(MODEL)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    (tmp_path / "d.csv").write_text("a,b,y\n0,1,0\n1,0,1\n")
    monkeypatch.setenv("LOCKSTEP_MEMORY_LIMIT", "lots")
    with pytest.raises(lockstep.LockstepError) as refused:
        lockstep.validate(tmp_path)
    assert refused.value.exit_code == 2 and str(refused.value).startswith("LOCKSTEP_MEMORY_LIMIT: `lots`"), refused
    assert lockstep.validate(tmp_path, memory_limit="1GiB").ok
