"""Find adapters: built-in by name, third-party by the `lockstep.adapters` entry point, or `module:attribute`.

Frameworks are imported only when their adapter is asked for, so listing or validating never pays for
torch or tensorflow, and a missing framework becomes one clear sentence ("install lockstep-standard[torch]")
instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata

from lockstep.adapters.base import Adapter
from lockstep.adapters.checked import AdapterError, adapter_code, adapter_devices, adapter_versions, describe
from lockstep.errors import LockstepError

GROUP = "lockstep.adapters"
DISTRIBUTION = "lockstep-standard"  # the name on the package index; the import name is `lockstep`

# name -> (module:attribute, the optional extra that installs its framework)
BUILTIN: dict[str, tuple[str, str | None]] = {
    "reference": ("lockstep.adapters.reference:ReferenceAdapter", None),
    "torch": ("lockstep.adapters.torch:TorchAdapter", "torch"),
    "tensorflow": ("lockstep.adapters.tensorflow:TensorFlowAdapter", "tensorflow"),
    "onnxruntime": ("lockstep.adapters.onnxruntime:OnnxRuntimeAdapter", "onnx"),
}
ALIASES = {"pytorch": "torch", "tf": "tensorflow", "ort": "onnxruntime"}


class AdapterNotFound(LockstepError, LookupError):
    """No usable adapter by that name; the message says why and what to do."""


def _load(target: str, extra: str | None = None) -> object:
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise AdapterNotFound(f"`{target}` is not of the form `module:attribute`")
    try:
        with adapter_code("import"):  # a module that calls sys.exit() at import is a broken adapter, not our exit
            obj: object = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            if module.startswith("lockstep."):
                raise AdapterNotFound(f"adapter `{target}` is not part of this lockstep release") from None
            raise AdapterNotFound(f"no module `{missing}` (from `{target}`); is its package installed?") from None
        hint = f"; install it with: pip install '{DISTRIBUTION}[{extra}]'" if extra else ""
        raise AdapterNotFound(f"adapter `{target}` needs the module `{missing}`, which is not installed{hint}") \
            from None
    except AttributeError:
        raise AdapterNotFound(f"`{module}` has no attribute `{attr}`") from None
    except Exception as exc:  # a framework that is installed but broken (missing shared library, ...)
        hint = f" (reinstall it: pip install --force-reinstall '{DISTRIBUTION}[{extra}]')" if extra else ""
        raise AdapterNotFound(f"adapter `{target}` failed to import: {describe(exc)}{hint}") from None
    return obj


def entry_points() -> dict[str, metadata.EntryPoint]:
    """Third-party adapters registered under the entry-point group `lockstep.adapters`."""
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}


def names() -> list[str]:
    """Every adapter name known here, built-in and third-party (installed or not)."""
    return sorted({*BUILTIN, *entry_points()})


def _instance(obj: object, label: str) -> Adapter:
    try:
        with adapter_code("constructor"):
            adapter = obj() if isinstance(obj, type) else obj
    except Exception as exc:
        raise AdapterNotFound(f"adapter `{label}` failed to start: {describe(exc)}") from None
    missing = [m for m in ("versions", "devices", "support", "build") if not callable(getattr(adapter, m, None))]
    if missing:
        raise AdapterNotFound(f"`{label}` is not a Lockstep adapter (no {', '.join(missing)}); "
                              "see lockstep.adapters.base.Adapter")
    return adapter  # type: ignore[return-value]


def get(name: str) -> Adapter:
    """An adapter instance by name (built-in or entry point) or `module:attribute`."""
    key = ALIASES.get(name.lower(), name.lower())
    if key in BUILTIN:
        target, extra = BUILTIN[key]
        return _instance(_load(target, extra), key)
    eps = entry_points()
    if name in eps:
        try:
            with adapter_code("import"):
                obj = eps[name].load()
        except Exception as exc:  # a third party's import error must not become our traceback
            raise AdapterNotFound(f"adapter `{name}` (entry point `{eps[name].value}`) failed to load: "
                                  f"{describe(exc)}") from None
        return _instance(obj, name)
    if ":" in name:
        return _instance(_load(name), name)
    raise AdapterNotFound(f"unknown adapter `{name}`; known: {', '.join(names())} "
                          "(or give `module:attribute`)")


@dataclass
class Listing:
    """One row of `lockstep adapters`."""

    name: str
    available: bool
    versions: dict[str, str] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    reason: str = ""
    source: str = "built-in"


def available(extra: Iterable[str] = ()) -> list[Listing]:
    """Every known adapter with its versions and devices, or the reason it cannot be used here; `extra` adds
    adapters named `module:attribute` (as compare and certify take them)."""
    eps = entry_points()
    rows = []
    for name in [*names(), *(e for e in dict.fromkeys(extra) if ":" in e and e not in names())]:
        source = ("built-in" if name in BUILTIN else f"entry point {eps[name].value}" if name in eps else
                  "module:attribute")
        try:
            adapter = get(name)
            rows.append(Listing(name, True, adapter_versions(adapter), list(adapter_devices(adapter)), source=source))
        except (AdapterNotFound, AdapterError) as exc:  # AdapterError: versions() or devices() unusable, said which
            rows.append(Listing(name, False, reason=str(exc), source=source))
        except Exception as exc:  # a broken third-party adapter must not hide the others
            rows.append(Listing(name, False, reason=describe(exc), source=source))
    return rows
