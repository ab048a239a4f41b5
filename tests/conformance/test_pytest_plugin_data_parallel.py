"""`pytest --lockstep-adapter=A --lockstep-level=5` ended in `INTERNALERROR: 'ExampleRecipe' object has no attribute
'levels'` whenever an example recipe was planned at level 5 (data_parallel): the plugin had never planned one. It now
plans and runs level 5 as `lockstep certify --level 5` does (suite.run_item), serially and under pytest-xdist: the
same checks in the same order, the same verdicts, failure folders and reports. Run against the mutant whose
data-parallel engine sums the replicas' gradients (conformance/mutants/dp_gradient_sum.py), in float64."""

from __future__ import annotations

import json
from pathlib import Path

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import pytest

import lockstep
import lockstep.adapters.reference
import lockstep.conformance.report
import lockstep.conformance.suite

pytest_plugins = ["pytester"]

NAME = "lockstep.conformance.mutants.dp_gradient_sum:DPGradientSumAdapter"
ARGS = (f"--lockstep-adapter={NAME}", "--lockstep-level=4,5", "--lockstep-construct=csv-binary,data_parallel",
        "--lockstep-dtype=float64", "--lockstep-examples=2", "--lockstep-recipe-steps=2", "--lockstep-seed=3",
        "-p", "no:cacheprovider")
IDS = ["lockstep::mutant-dp_gradient_sum::data_parallel[data_parallel-float64-cpu]",
       "lockstep::mutant-dp_gradient_sum::csv-binary[recipes-float64-cpu]",
       "lockstep::mutant-dp_gradient_sum::csv-binary[data_parallel-float64-cpu]"]

# every session fails to build: each check is an `error`, whose text says how to run it alone
ERRING = '''
from lockstep.adapters.reference import ReferenceAdapter


class ErringAdapter(ReferenceAdapter):
    name = "erring"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        raise RuntimeError("no session today")
'''


def anonymous(text: bytes, name: str) -> bytes:
    """The report folder's name (in the commands of a failure) made R."""
    return text.replace(f"{name}/failures/".encode(), b"R/failures/").replace(f"{name}/rerun-".encode(), b"R/rerun-")


def certified(folder: Path) -> list[dict]:
    """report.json's checks, less the seconds each took, with the report folder's name made R."""
    checks = json.loads(anonymous((folder / "report.json").read_bytes(), folder.name))["checks"]
    return [{k: v for k, v in c.items() if k != "seconds"} for c in checks]


def files(folder: Path) -> dict[str, bytes]:
    """The failure folders' files, with the report folder's name made R."""
    return {str(p.relative_to(folder / "failures")): anonymous(p.read_bytes(), folder.name)
            for p in sorted((folder / "failures").rglob("*")) if p.is_file()}


@pytest.fixture
def by_certify(pytester: pytest.Pytester) -> Path:
    """`lockstep certify` of the same options, its report in C/ (pytester's folder is the working folder)."""
    cert = lockstep.certify(NAME, levels=[4, 5], dtypes=["float64"], constructs=["csv-binary", "data_parallel"],
                            examples=2, recipe_steps=2, seed=3, report="C")
    assert [(c.construct, c.level, c.outcome) for c in cert.checks] == [
        ("data_parallel", 5, "fail"), ("csv-binary", 4, "pass"), ("csv-binary", 5, "fail")]
    return pytester.path / "C"


def test_level_5_is_planned_and_run_as_certify_runs_it(pytester: pytest.Pytester, by_certify: Path) -> None:
    ids = pytester.runpytest(*ARGS, "--collect-only", "-q")
    assert [line for line in ids.outlines if line.startswith("lockstep::")] == IDS
    result = pytester.runpytest(*ARGS, "--lockstep-report=P")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1, failed=2)
    assert certified(pytester.path / "P") == certified(by_certify)
    assert files(pytester.path / "P") == files(by_certify)
    text = result.stdout.str()
    line = next(x for x in text.splitlines() if "failure folder:" in x and "csv-binary" in x)
    assert line.endswith("(the recipe and model as they ran, and README.md naming the failing step and quantity and "
                         "the replicas; the command below judges level 5 on this check alone again)"), line
    assert (f"  reproduce:                lockstep certify --adapter {NAME} --level 5 --construct csv-binary "
            "--dtype float64 --recipe-steps 2") in text


def test_level_5_under_xdist_reports_as_certify(pytester: pytest.Pytester, by_certify: Path) -> None:
    pytest.importorskip("xdist")
    result = pytester.runpytest_subprocess(*ARGS, "-n", "2", "--lockstep-report=P")
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1, failed=2)
    assert certified(pytester.path / "P") == certified(by_certify)
    assert files(pytester.path / "P") == files(by_certify)


def test_a_level_5_recipe_error_names_the_command_that_runs_it_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(lockstep_erring_adapter=ERRING)
    pytester.syspathinsert()
    result = pytester.runpytest("--lockstep-adapter=lockstep_erring_adapter:ErringAdapter", "--lockstep-level=5",
                                "--lockstep-construct=csv-binary", "--lockstep-dtype=float64",
                                "--lockstep-recipe-steps=2", "--lockstep-seed=7", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "csv-binary.data_parallel.float64.cpu: ERROR: the check could not complete on erring *",
        "  (run it alone: lockstep certify --adapter lockstep_erring_adapter:ErringAdapter --construct csv-binary "
        "--level 5 --dtype float64 --device cpu --recipe-steps 2 --seed 7)"])
