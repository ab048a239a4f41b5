"""The standard: the document models of spec v1, their JSON Schemas, the loader, validation and migrations.

The document models are exported here, so that recipes and models can be built in Python and saved with
`lockstep.dump`:

    from lockstep.spec import Recipe
    recipe = Recipe(apiVersion="lockstep/v1", kind="Recipe", metadata={"name": "r"}, model="model.yaml", seed=0,
                    data={...}, loss={"type": "mse"}, optimizer={"type": "adam", "learning_rate": 1e-3},
                    training={"steps": 100})

Nested sections are given as mappings (or as their classes: `lockstep.spec.optimizers.Adam(...)`); every value
is checked as strictly as in a file. They are imported on first use, so `import lockstep.spec.diagnostics` (or
`lockstep validate`'s start-up) does not build every model.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Document": "documents", "Model": "documents", "Recipe": "documents", "Environment": "documents",
    "Input": "documents", "WeightsFile": "documents", "Regularization": "documents", "Training": "documents",
    "Evaluation": "documents", "Checkpoint": "documents", "Tolerance": "documents", "LatencyBudget": "documents",
    "Quantization": "documents", "KINDS": "documents", "Metadata": "base", "Data": "data", "Split": "data",
    "Diagnostic": "diagnostics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
