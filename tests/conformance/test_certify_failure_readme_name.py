"""An example recipe folder holding a README.md of its own had it replaced in its failure folder (levels 4 and 5:
the recipe is copied there as it ran, then the failure's README.md written over it). The recipe's files are now kept
as they are, and the failure's README is FAILURE-README.md in that case only (suite.readme_name, docs/certify.md);
the pytest plugin's failure text names the file it wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import planted_adapters
import pytest
from planted_adapters import Off

import lockstep
from lockstep.conformance import suite
from lockstep.conformance.mutants.dp_gradient_sum import DPGradientSumAdapter

pytest_plugins = ["pytester"]

OWN = "# csv-binary\n\nThe example's own notes.\n"

@pytest.fixture
def documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """csv-binary as the only example recipe, with a README.md of its own."""
    source = next(p for p in suite.example_recipes() if p.parent.name == "csv-binary").parent
    copy = tmp_path / "examples" / "csv-binary"
    shutil.copytree(source, copy)
    (copy / "README.md").write_text(OWN)
    monkeypatch.setattr(suite, "example_recipes", lambda: [copy / "recipe.yaml"])
    return copy


def test_readme_name() -> None:
    assert suite.readme_name(None) == "README.md"


def test_readme_name_takes_a_free_name(tmp_path: Path) -> None:
    assert suite.readme_name(tmp_path) == "README.md"
    (tmp_path / "readme.md").write_text("")  # one name on a case-insensitive file system
    assert suite.readme_name(tmp_path) == "FAILURE-README.md"
    (tmp_path / "FAILURE-README.md").write_text("")
    assert suite.readme_name(tmp_path) == "FAILURE-README-2.md"


@pytest.mark.parametrize(("adapter", "level"), [(Off(), 4), (DPGradientSumAdapter(), 5)])
def test_a_recipe_readme_is_kept_in_its_failure_folder(tmp_path: Path, documented: Path, adapter, level: int) -> None:
    cert = lockstep.certify(adapter, levels=[level], dtypes=["float64"], constructs=["csv-binary"], recipe_steps=2,
                            report=tmp_path / "r")
    (c,) = cert.checks
    assert c.outcome == "fail" and c.level == level
    folder = tmp_path / "r" / c.failure_dir
    assert (folder / "README.md").read_text() == OWN  # the recipe's files as they are
    ours = (folder / "FAILURE-README.md").read_text()
    assert ours.startswith(f"# {c.name}: {adapter.name} diverges from the reference\n\n(`README.md` here is the "
                           "example recipe's own")
    assert f"    {c.reproduce}\n" in ours


def test_the_plugin_names_the_readme_it_wrote(pytester: pytest.Pytester, documented: Path) -> None:
    pytester.makepyfile(lockstep_off=Path(planted_adapters.__file__).read_text())
    pytester.syspathinsert()
    result = pytester.runpytest("--lockstep-adapter=lockstep_off:Off", "--lockstep-construct=csv-binary",
                                "--lockstep-level=4", "--lockstep-dtype=float64", "--lockstep-recipe-steps=1",
                                "--lockstep-report=R")
    result.assert_outcomes(failed=1)
    line = next(x for x in result.stdout.str().splitlines() if "failure folder:" in x)
    assert "FAILURE-README.md naming the failing step and quantity" in line, line
    where = pytester.path / "R" / "failures" / "csv-binary.recipes.float64.cpu"
    assert (where / "README.md").read_text() == OWN and (where / "FAILURE-README.md").is_file()
