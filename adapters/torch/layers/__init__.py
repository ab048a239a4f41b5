"""One module per spec layer type, each with `build(layer, input_shapes, dtype) -> Wrapped`."""

import importlib
from types import ModuleType


def get(type_name: str) -> ModuleType:
    return importlib.import_module(f"lockstep.adapters.torch.layers.{type_name}")
