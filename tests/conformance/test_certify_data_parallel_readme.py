"""A level-5 (data_parallel) failure folder held the example recipe as it ran and no README.md, while levels 1-4
have one, and its reproduce line (`lockstep certify --adapter NAME --level 5 --construct C`) left out the dtype,
device and steps, named an adapter no command finds, and (run as given) replaced the report it came from; a
generated level-5 case's README named `lockstep compare ... --conformance`, which judges one process and so agreed.
Both now have a README: what ran (replicas, the recipe or case as it ran), what failed first, the `lockstep certify`
line that judges it again (into a folder beside failures/), and the `lockstep run` lines that show the engine."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import lockstep
import lockstep.conformance.suite
from lockstep.cli import main
from lockstep.conformance.mutants.dp_gradient_sum import DPGradientSumAdapter

NAME = "lockstep.conformance.mutants.dp_gradient_sum:DPGradientSumAdapter"


def test_an_example_recipes_level_5_failure_has_a_readme(tmp_path: Path) -> None:
    cert = lockstep.certify(DPGradientSumAdapter(), levels=[5], dtypes=["float64"], constructs=["csv-binary"],
                            recipe_steps=2, report=tmp_path / "r")
    (c,) = cert.checks
    assert c.outcome == "fail" and c.failure_dir == "failures/csv-binary.data_parallel.float64.cpu"
    folder = tmp_path / "r" / c.failure_dir
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "model.yaml", "points.csv", "recipe.yaml"]
    readme = (folder / "README.md").read_text()
    assert readme.startswith("# csv-binary.data_parallel.float64.cpu: mutant-dp_gradient_sum diverges from the "
                             "reference\n")
    assert "Example recipe: csv-binary (`recipe.yaml` here, with its model and data, is the example as it ran: " \
           "dtype float64, its first 2 steps on each replica count" in readme
    assert "Ran on: 2 replicas; not run: 3 replicas: 3 replicas do not divide batch_size 16" in readme
    assert "Failed first on: 2 replicas, step 1 of 2\n" in readme
    assert f"First diverging quantity: {c.message.split('; skipped')[0]}" in readme
    rerun = tmp_path / "r" / "rerun-csv-binary.data_parallel.float64.cpu"
    assert c.reproduce == (f"lockstep certify --adapter {NAME} --level 5 --construct csv-binary --dtype float64 "
                           f"--recipe-steps 2 --seed 0 --report {rerun}")
    assert f"Reproduce:\n\n    {c.reproduce}\n" in readme and "`lockstep compare` does not reproduce it" in readme
    run = f"lockstep run {folder / 'recipe.yaml'} --backend {NAME} --steps 2"
    assert f"    {run} --set 'distribution={{strategy: data_parallel, replicas: 2}}' --out runs/2-replicas\n" in readme
    assert f"    {run} --replicas 1 --out runs/one-process\n" in readme
    assert "\nLevel 5 (data_parallel):\n- FAIL step 1 (2 replicas) loss: " in readme
    assert "- ok   step 1 (one process) loss: " in readme and "step 2 " not in readme.split("Level 5")[1]
    # the line reproduces it, as written, and leaves this report as it is
    assert main([*shlex.split(c.reproduce)[1:], "--quiet"]) == 1
    assert (rerun / "failures" / "csv-binary.data_parallel.float64.cpu" / "README.md").is_file()
    assert (folder / "README.md").read_text() == readme


@pytest.mark.parametrize(("construct", "mode"), [("data_parallel", ""),
                                                 ("data_parallel_local", " (batch_norm: local)")])
def test_a_generated_level_5_case_names_the_command_that_reproduces_it(tmp_path: Path, construct: str,
                                                                        mode: str) -> None:
    cert = lockstep.certify(DPGradientSumAdapter(), levels=[5], dtypes=["float64"], constructs=[construct],
                            examples=3, seed=4, report=tmp_path / "r")
    (c,) = cert.checks
    folder = tmp_path / "r" / c.failure_dir
    readme = (folder / "README.md").read_text()
    rerun = tmp_path / "r" / f"rerun-{construct}.data_parallel.float64.cpu"
    assert c.reproduce == (f"lockstep certify --adapter {NAME} --level 5 --construct {construct} --dtype float64 "
                           f"--examples 3 --seed 4 --report {rerun}")
    assert f"Reproduce:\n\n    {c.reproduce}\n" in readme and "lockstep compare" not in c.reproduce
    assert "Generated case: 2 replicas" in readme or "Generated case: 3 replicas" in readme
    assert f"replicas{mode}, " in readme.split("Generated case: ")[1].splitlines()[0]
    assert ("one process differs by design" in readme) == bool(mode)
    assert main([*shlex.split(c.reproduce)[1:], "--quiet"]) == 1  # the same search finds the same case
    again = rerun / c.failure_dir / "case.json"
    assert again.read_text().split('"case"')[1].split('"command"')[0] == \
        (folder / "case.json").read_text().split('"case"')[1].split('"command"')[0]


def test_level_5_shifts_an_example_recipes_seed_as_level_4_does(tmp_path: Path) -> None:
    """`certify --seed S` drew other generated cases and shifted the recipes' seeds at level 4, but level 5 ran every
    example recipe from its own seed whatever S: the same level-5 recipe cases at every seed. It now shifts it by
    S, as level 4 does; the failure's recipe, README and reproduce line (`--seed S`) say so."""
    import yaml

    options = dict(levels=[5], dtypes=["float64"], constructs=["csv-binary"], recipe_steps=2)
    (plain,) = lockstep.certify(DPGradientSumAdapter(), seed=0, report=False, **options).checks
    (c,) = lockstep.certify(DPGradientSumAdapter(), seed=3, report=tmp_path / "r", **options).checks
    assert c.outcome == plain.outcome == "fail"
    assert (c.message, c.worst) != (plain.message, plain.worst)  # another case: other weights, data and order
    example = next(p for p in lockstep.conformance.suite.example_recipes() if p.parent.name == "csv-binary")
    folder = tmp_path / "r" / c.failure_dir
    own = yaml.safe_load(example.read_text())["seed"]
    assert yaml.safe_load((folder / "recipe.yaml").read_text())["seed"] == own + 3  # as level 4 shifts it
    readme = (folder / "README.md").read_text()
    assert "is the example as it ran: dtype float64, its seed shifted by 3 (--seed), its first 2 steps" in readme
    rerun = tmp_path / "r" / "rerun-csv-binary.data_parallel.float64.cpu"
    assert c.reproduce == (f"lockstep certify --adapter {NAME} --level 5 --construct csv-binary --dtype float64 "
                           f"--recipe-steps 2 --seed 3 --report {rerun}")
    assert f"    {c.reproduce}\n" in readme and "with the same dtype, steps and seed," in readme
    assert main([*shlex.split(c.reproduce)[1:], "--quiet"]) == 1  # the same case again
    again = lockstep.Certificate.read(rerun / "report.json").checks[0]
    assert (again.message, again.worst) == (c.message, c.worst)


@pytest.mark.parametrize("level", [4, 5])
def test_an_example_that_does_not_prepare_is_said_of_the_example(tmp_path: Path, level: int) -> None:
    """Levels 4 and 5 prepare a temporary copy of each example recipe; level 5 said a preparation failure with the
    copy's path (gone when read) and without the example's name, level 4 of the example: both now as level 4."""
    import shutil

    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.conformance.levels import data_parallel

    example = tmp_path / "csv-binary"
    shutil.copytree(Path(lockstep.conformance.suite.__file__).parents[1] / "examples" / "csv-binary", example)
    (example / "points.csv").write_text("x1,x2,inside\n1.0,oops,0\n")
    if level == 4:
        target = lockstep.conformance.suite.Target(ReferenceAdapter(), "reference", "float64", "cpu")
        (r,) = [lockstep.conformance.suite.run_recipe(target, example / "recipe.yaml", 2, None)]
    else:
        target = lockstep.conformance.suite.Target(DPGradientSumAdapter(), NAME, "float64", "cpu")
        (r,) = data_parallel.run_recipe(target, example / "recipe.yaml", 2, None)
    assert r.outcome == "error" and r.message.startswith("the example csv-binary does not prepare: "), r.message
    assert "lockstep-" not in r.message and "points.csv" in r.message, r.message
