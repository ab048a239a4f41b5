"""One module per spec v1 layer type, named after the type (`dense.py`, `conv2d.py`, ...).

Each module has `LAYOUT` (the activation layout it computes in, see `_base`), `build(layer,
input_shapes, dtype, channels_last) -> keras.layers.Layer` (a native Keras layer, or a documented
subclass of one where Keras's semantics differ from the standard's; `channels_last` says which layout
its input arrives in) and, where the layer has parameters or buffers, `slots(layer)` /
`buffer_slots(layer)`: canonical name -> `Slot`. Single-input layers take one tensor; merge layers
(`add`, `concat`) take a list, as Keras's own merge layers do.
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
    """The TensorFlow mapping of a spec layer type, adapters/tensorflow/layers/<type>.py:
    MissingPart names the file to write when the module is missing."""
    return layer_part(type_name, "tensorflow", UNSUPPORTED, f"no TensorFlow mapping for layer `{type_name}`")
