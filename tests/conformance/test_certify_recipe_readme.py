"""`lockstep certify` wrote no README.md in an example recipe's (level 4) failure folder, while a generated case's
(levels 1-3) has one saying what failed and what to run. It now writes one there too, by the same code: the recipe
as it ran, the step and quantity that failed first, the `lockstep compare` command that reproduces it, and the
comparisons made."""

from __future__ import annotations

from pathlib import Path

import pytest
from planted_adapters import Late, Off

import lockstep
from lockstep.adapters.reference import ReferenceAdapter


@pytest.mark.parametrize(("adapter", "seed", "failed"), [
    (Off(), 0, "Failed at: before step 1, output of the first batch from the initial weights"),
    (Late(), 3, "Failed at: step 1 of 2, parameter "),
])
def test_a_recipe_failure_folder_has_a_readme(tmp_path: Path, adapter: ReferenceAdapter, seed: int,
                                              failed: str) -> None:
    cert = lockstep.certify(adapter, levels=[4], dtypes=["float64"], constructs=["csv-binary"], recipe_steps=2,
                            seed=seed, report=tmp_path / "r")
    (c,) = cert.checks
    assert c.outcome == "fail" and c.failure_dir and c.reproduce
    folder = tmp_path / "r" / c.failure_dir
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "model.yaml", "points.csv", "recipe.yaml"]
    readme = (folder / "README.md").read_text()
    assert readme.startswith(f"# csv-binary.recipes.float64.cpu: {adapter.name} diverges from the reference\n")
    assert "Example recipe: csv-binary (`recipe.yaml` here, with its model and data, is the example as it ran: " \
           "dtype float64" in readme
    assert ("its seed shifted by 3 (--seed)" in readme) == (seed == 3) and ", 2 steps, each judged" in readme
    assert failed in readme and f"First diverging quantity: {c.message}" in readme
    assert f"Reproduce:\n\n    {c.reproduce}\n" in readme
    assert c.reproduce.startswith(f"lockstep compare {folder / 'recipe.yaml'} --backends reference,")
    assert "\nLevel 4 (recipes):\n- " in readme and "\n- FAIL " in readme
