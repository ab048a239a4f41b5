"""The plugin's failure text of an example recipe (level 4) promised "(README.md lists every comparison)", but that
folder held the recipe and model as they ran, as certify's did, and no README: it says what is there. Since certify
writes a README naming the failing step there too (suite.run_recipe), the text promises that README."""

from __future__ import annotations

from pathlib import Path

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import planted_adapters
import pytest

import lockstep.adapters.reference
import lockstep.conformance.suite  # noqa: F401

pytest_plugins = ["pytester"]


@pytest.mark.parametrize("report", [True, False])
def test_a_recipe_failure_promises_its_readme(pytester: pytest.Pytester, report: bool) -> None:
    pytester.makepyfile(lockstep_off=Path(planted_adapters.__file__).read_text())
    pytester.syspathinsert()
    folder = ["--lockstep-report=R"] if report else ["-p", "no:cacheprovider"]
    result = pytester.runpytest("--lockstep-adapter=lockstep_off:Off", "--lockstep-construct=csv-binary",
                                "--lockstep-level=4", "--lockstep-dtype=float64", "--lockstep-recipe-steps=1",
                                *folder)
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    line = next(x for x in text.splitlines() if "failure folder:" in x)
    assert "README.md naming the failing step and quantity" in line and "the recipe and model as they ran" in line
    assert "lists every comparison" not in line, line
    if report:
        where = pytester.path / "R" / "failures" / "csv-binary.recipes.float64.cpu"
        assert (where / "recipe.yaml").is_file() and (where / "README.md").is_file()
        assert "Failed at: before step 1, output of the first batch" in (where / "README.md").read_text()
