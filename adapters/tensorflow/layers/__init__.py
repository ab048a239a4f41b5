"""One module per spec v1 layer type, named after the type (`dense.py`, `conv2d.py`, ...).

Each module has `LAYOUT` (the activation layout it computes in, see `_base`), `build(layer,
input_shapes, dtype, channels_last) -> keras.layers.Layer` (a native Keras layer, or a documented
subclass of one where Keras's semantics differ from the standard's; `channels_last` says which layout
its input arrives in) and, where the layer has parameters or buffers, `slots(layer)` /
`buffer_slots(layer)`: canonical name -> `Slot`. Single-input layers take one tensor; merge layers
(`add`, `concat`) take a list, as Keras's own merge layers do.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lockstep.spec.layers import LAYER_TYPES

TYPES: tuple[str, ...] = tuple(LAYER_TYPES)


def get(type_name: str) -> ModuleType:
    """The Keras mapping of a spec layer type."""
    if type_name not in LAYER_TYPES:
        raise KeyError(f"no TensorFlow mapping for layer `{type_name}`")
    return importlib.import_module(f"lockstep.adapters.tensorflow.layers.{type_name}")
