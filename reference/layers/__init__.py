"""The reference math of every v1 layer: one module per spec `type`, named like it (spec/constructs.py).

Each module has `forward(layer, inputs, params, ctx) -> (output, cache)` and
`backward(layer, grad_output, cache) -> (input_grads, param_grads)`; see docs/internals.md. Beside them sit
the layer's float32 rules: `magnitude` and `magnitude_backward` (the magnitude pass, reference/layers/
_magnitude.py, reference/error_bounds.py) and `reduction_length`, `batch_length`, `backward_excess`
(reference/layers/_rules.py, reference/tolerances.py), docs/spec/v1-semantics.md § Tolerances.
Every module is imported here, through the registry of constructs, so that a broken one fails at import; a
layer of the spec without its module (or without forward/backward) is refused by `get`, when a model using it is
built, with the file to write (tests/test_construct_coverage.py names every such gap at once).
"""

from __future__ import annotations

from types import ModuleType

from lockstep.reference.layers.context import ForwardContext
from lockstep.spec import constructs

MODULES: dict[str, ModuleType] = {}
MISSING: dict[str, str] = {}  # layer type -> what to write (constructs.MissingPart's message)
for _c in constructs.of_kind("layer"):
    try:
        MODULES[_c.name] = _c.load("reference")
    except constructs.MissingPart as _exc:
        MISSING[_c.name] = str(_exc)

__all__ = ["MODULES", "ForwardContext", "get"]


def get(type_name: str) -> ModuleType:
    """The reference module of layer type `type_name` (a spec v1 `type`)."""
    try:
        return MODULES[type_name]
    except KeyError:
        if type_name in MISSING:
            raise constructs.MissingPart(MISSING[type_name]) from None
        raise KeyError(f"no reference implementation for layer type `{type_name}`") from None
