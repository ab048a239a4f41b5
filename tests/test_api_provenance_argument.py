"""`lockstep.provenance` takes a document `load` returned: a path or None quietly gave None ("built in Python")."""

from __future__ import annotations

from pathlib import Path

import pytest

import lockstep

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "digits-mlp" / "recipe.yaml"


@pytest.mark.parametrize("wrong", ["examples/digits-mlp/recipe.yaml", Path("recipe.yaml"), None, {}, 3])
def test_provenance_of_what_is_not_a_document_is_refused(wrong: object) -> None:
    with pytest.raises(lockstep.LockstepError) as exc:
        lockstep.provenance(wrong)
    assert str(exc.value).startswith("doc: expected a Model, Recipe or Environment"), str(exc.value)
    assert exc.value.exit_code == 2


def test_provenance_of_documents_is_unchanged() -> None:
    recipe = lockstep.load(RECIPE)
    assert lockstep.provenance(recipe).file.endswith("recipe.yaml")
    assert lockstep.provenance(recipe.model_copy(update={"seed": 5})) is not None  # a copy keeps its file
    assert lockstep.provenance(type(recipe).model_validate(recipe.model_dump())) is None  # built in Python
