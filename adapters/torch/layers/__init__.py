"""One module per spec v1 layer type, named after the type (`dense.py`, `conv2d.py`, ...).

Each module has `build(layer, input_shapes, dtype) -> nn.Module` (a native torch module, or a documented
subclass of one where torch's semantics differ from the standard's) and, where the layer has
parameters or buffers, `slots(module)` / `buffer_slots(module)`: canonical name -> `Slot`.
Single-input modules take one tensor; merge modules (`add`, `concat`) take several positional tensors.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lockstep.spec.layers import LAYER_TYPES

TYPES: tuple[str, ...] = tuple(LAYER_TYPES)


def get(type_name: str) -> ModuleType:
    """The torch mapping of a spec layer type."""
    if type_name not in LAYER_TYPES:
        raise KeyError(f"no torch mapping for layer `{type_name}`")
    return importlib.import_module(f"lockstep.adapters.torch.layers.{type_name}")
