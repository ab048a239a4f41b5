"""The plugin's failure text of an example recipe (level 4) promised "(README.md lists every comparison)", but that
folder holds the recipe and model as they ran, as certify's does, and no README: it now says what is there."""

from __future__ import annotations

import numpy  # noqa: F401  (imported here, once: pytester's in-process runs forget modules they import)
import pytest

import lockstep.adapters.reference
import lockstep.conformance.suite  # noqa: F401

pytest_plugins = ["pytester"]

OFF = '''
from lockstep.adapters.reference import ReferenceAdapter


class Off(ReferenceAdapter):
    name = "off"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        session = super().build(model, dtype=dtype, device=device, recipe=recipe)
        forward = session.forward
        session.forward = lambda x, *, training=False, masks=None: forward(x, training=training, masks=masks) * 1.01
        return session
'''


@pytest.mark.parametrize("report", [True, False])
def test_a_recipe_failure_promises_no_readme(pytester: pytest.Pytester, report: bool) -> None:
    pytester.makepyfile(lockstep_off=OFF)
    pytester.syspathinsert()
    folder = ["--lockstep-report=R"] if report else ["-p", "no:cacheprovider"]
    result = pytester.runpytest("--lockstep-adapter=lockstep_off:Off", "--lockstep-construct=csv-binary",
                                "--lockstep-level=4", "--lockstep-dtype=float64", "--lockstep-recipe-steps=1",
                                *folder)
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    line = next(x for x in text.splitlines() if "failure folder:" in x)
    assert "README.md" not in line and "the recipe and model as they ran" in line, line
    if report:
        where = pytester.path / "R" / "failures" / "csv-binary.recipes.float64.cpu"
        assert (where / "recipe.yaml").is_file() and not (where / "README.md").exists()
