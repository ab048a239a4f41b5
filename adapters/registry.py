"""Find adapters: built-in by name, third-party by the `lockstep.adapters` entry point, or `module:attribute`."""

from __future__ import annotations

import importlib
from importlib import metadata

from lockstep.adapters.base import Adapter

BUILTIN = {
    "reference": ("lockstep.adapters.reference:ReferenceAdapter", None),
    "torch": ("lockstep.adapters.torch:TorchAdapter", "torch"),
    "tensorflow": ("lockstep.adapters.tensorflow:TensorFlowAdapter", "tensorflow"),
}
GROUP = "lockstep.adapters"


class AdapterNotFound(LookupError):
    pass


def _load(target: str, extra: str | None = None) -> type[Adapter]:
    module, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")) and module.startswith("lockstep."):
            raise AdapterNotFound(f"adapter `{target}` is not part of this lockstep release") from None
        hint = f"; install it with: pip install 'lockstep[{extra}]'" if extra else ""
        raise AdapterNotFound(f"adapter `{target}` needs the module `{exc.name}`, which is not installed{hint}") \
            from None
    except AttributeError:
        raise AdapterNotFound(f"`{module}` has no attribute `{attr}`") from None
    return obj


def entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted({*BUILTIN, *entry_points()})


def get(name: str) -> Adapter:
    """An adapter instance by name, entry point or `module:attribute`."""
    if name in BUILTIN:
        target, extra = BUILTIN[name]
        cls = _load(target, extra)
    elif name in entry_points():
        try:
            cls = entry_points()[name].load()
        except Exception as exc:  # a third party's import error must not become our traceback
            raise AdapterNotFound(f"adapter `{name}` failed to load: {exc}") from None
    elif ":" in name:
        cls = _load(name)
    else:
        raise AdapterNotFound(f"unknown adapter `{name}`; installed: {', '.join(names())} "
                              "(or give `module:attribute`)")
    return cls() if isinstance(cls, type) else cls
