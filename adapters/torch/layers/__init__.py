"""One module per spec v1 layer type, named after the type (`dense.py`, `conv2d.py`, ...).

Each module has `build(layer, input_shapes, dtype) -> nn.Module` (a native torch module, or a documented
subclass of one where torch's semantics differ from the standard's) and, where the layer has
parameters or buffers, `slots(module)` / `buffer_slots(module)`: canonical name -> `Slot`.
Single-input modules take one tensor; merge modules (`add`, `concat`) take several positional tensors.
"""

from __future__ import annotations

from types import ModuleType

from lockstep.adapters.base import layer_part
from lockstep.spec import constructs

TYPES: tuple[str, ...] = constructs.names("layer")

UNSUPPORTED: dict[str, str] = {}
"""Layer types this backend declares it cannot map, with the reason (none in v1): tests/test_construct_coverage.py
accepts a declaration here instead of a module, and `get` refuses the type with the reason."""


def get(type_name: str) -> ModuleType:
    """The torch mapping of a spec layer type, adapters/torch/layers/<type>.py:
    MissingPart names the file to write when the module is missing."""
    return layer_part(type_name, "torch", UNSUPPORTED, f"no torch mapping for layer `{type_name}`")
