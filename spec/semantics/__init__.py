"""Semantic checks beyond the schema, one module per document kind: shapes through the model, graph structure,
references between documents, data against model, loss against output, and hyper-parameter combinations.

The schema (pydantic, and the exported JSON Schema) can only judge one field at a time; a spec that passes it
can still fail minutes into a run on a GPU. Everything here is decided statically, without NumPy or a framework,
so `lockstep validate` stays a seconds-long CI step. Each problem is one `Diagnostic` located at the field it
concerns (`located.diag`), naming the layers, fields and shapes involved.

    located.py       what a check needs of a document (`Located`) and how it says a problem (`diag`)
    model.py         a Model: graph, shapes, weights file, memory; `layer_names`, `infer_shapes`
    data.py          what a recipe's data statically is (`DataFacts`): sources, files' headers, preprocessing
    recipe.py        a Recipe, and a Recipe against its resolved model
    environment.py   an Environment: requirements, tolerance, dtype, latency budget

`spec/resolve.py` calls `check(document, loaded, base_dir=..., model=...)` after the schema passed, with a
recipe's model already resolved: nothing here reads another document, so nothing here imports the validator.
`layer_names` and `infer_shapes` (from model.py) are the helpers tools share with the reference.
"""

from __future__ import annotations

from pathlib import Path

from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.documents import Environment, Model, Recipe
from lockstep.spec.semantics.environment import check_environment
from lockstep.spec.semantics.located import Located
from lockstep.spec.semantics.model import check_model, infer_shapes, layer_names
from lockstep.spec.semantics.recipe import check_recipe

__all__ = ["check", "infer_shapes", "layer_names"]


def check(document: object, loaded: Located, *, base_dir: Path, model: Model | None = None) -> list[Diagnostic]:
    """Every semantic problem of one schema-valid document (empty when there is none), in the order of its lines.

    `model` is a Recipe's resolved model (None when it is not valid: the checks against it are skipped)."""
    if isinstance(document, Model):
        out = check_model(document, loaded, base_dir=Path(base_dir))
    elif isinstance(document, Recipe):
        out = check_recipe(document, loaded, base_dir=Path(base_dir), model=model)
    elif isinstance(document, Environment):
        out = check_environment(document, loaded)
    else:
        return []
    return sorted(out, key=lambda d: (d.line, d.column))
