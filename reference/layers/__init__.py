"""The reference math of every v1 layer, one module per spec `type` (same name as in spec/layers.py)."""

from __future__ import annotations

import importlib
from types import ModuleType

from lockstep.spec.layers import LAYER_TYPES

_cache: dict[str, ModuleType] = {}


def get(type_name: str) -> ModuleType:
    if type_name not in LAYER_TYPES:
        raise KeyError(f"no reference implementation for layer type `{type_name}`")
    if type_name not in _cache:
        _cache[type_name] = importlib.import_module(f"lockstep.reference.layers.{type_name}")
    return _cache[type_name]
