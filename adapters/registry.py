"""Find adapters: built-in by name, third-party by the `lockstep.adapters` entry point, or `module:attribute`.

Frameworks are imported only when their adapter is asked for, so listing or validating never pays for
torch or tensorflow, and a missing framework becomes one clear sentence ("install lockstep-standard[torch]")
instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
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


def builtin_key(name: str) -> str:
    """`name` lower-cased and its alias resolved (`PyTorch` and `pytorch` are `torch`): the built-in adapter's key
    when `name` spells one (`in BUILTIN` says whether it does), the one lookup every caller shares."""
    return ALIASES.get(name.lower(), name.lower())


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


def registered() -> dict[str, list[metadata.EntryPoint]]:
    """Every entry point of the group by name; more than one under a name is a clash of two distributions (one
    installed twice, with the same target, counts once)."""
    found: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=GROUP):
        same = found.setdefault(ep.name, [])
        if all(e.value != ep.value for e in same):
            same.append(ep)
    return found


Registered = dict[str, list[metadata.EntryPoint]]


def entry_points(found: Registered | None = None) -> dict[str, metadata.EntryPoint]:
    """Third-party adapters registered under the entry-point group `lockstep.adapters` (the first of a clash);
    `found`: a `registered()` already scanned, so that one listing scans the installed distributions once."""
    return {name: eps[0] for name, eps in (registered() if found is None else found).items()}


def target(ep: metadata.EntryPoint) -> str:
    """The `module:attribute` that names an entry point's adapter without the entry point."""
    return f"{ep.module}:{ep.attr}"


def _by(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an unnamed distribution"


def shadowed(found: Registered | None = None) -> list[tuple[str, metadata.EntryPoint]]:
    """Entry points registered under a built-in adapter's name (or alias), which that name keeps meaning."""
    return [(name, ep) for name, eps in (registered() if found is None else found).items() for ep in eps
            if builtin_key(name) in BUILTIN]


def names(found: Registered | None = None) -> list[str]:
    """Every adapter name known here, built-in and third-party (installed or not); an entry point under a built-in
    name or alias is not one (`shadowed`)."""
    return sorted({*BUILTIN, *(n for n in entry_points(found) if builtin_key(n) not in BUILTIN)})


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


def get(name: str, found: Registered | None = None) -> Adapter:
    """An adapter instance by name (built-in or entry point) or `module:attribute`."""
    key = builtin_key(name)
    if key in BUILTIN:
        target, extra = BUILTIN[key]
        return _instance(_load(target, extra), key)
    eps = registered() if found is None else found
    if len(eps.get(name, ())) > 1:  # which one wins would depend on the order of sys.path
        raise AdapterNotFound(f"adapter `{name}` is registered by {len(eps[name])} installed distributions ("
                              + "; ".join(f"{_by(ep)}: {ep.value}" for ep in eps[name])
                              + "); name the one you mean as `module:attribute`, or uninstall the other")
    if name in eps:
        ep = eps[name][0]
        try:
            with adapter_code("import"):
                obj = ep.load()
        except Exception as exc:  # a third party's import error must not become our traceback
            raise AdapterNotFound(f"adapter `{name}` (entry point `{ep.value}`) failed to load: "
                                  f"{describe(exc)}") from None
        return _instance(obj, name)
    if ":" in name:
        return _instance(_load(name), name)
    raise AdapterNotFound(f"unknown adapter `{name}`; known: {', '.join(names(eps))} "
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


def available(extra: Iterable[str] = (),
              load: Callable[[str, str, Callable[[], Listing]], Listing] | None = None) -> list[Listing]:
    """Every known adapter with its versions and devices, or the reason it cannot be used here; `extra` adds
    adapters named `module:attribute` (as compare and certify take them). `load(name, source, build)` returns
    `build()`'s row, or its own when it stops it: `lockstep adapters` bounds and announces a slow import there."""
    found = registered()  # once: each of the calls below would scan every installed distribution again
    eps, known = entry_points(found), names(found)
    hidden = {target(ep): f"entry point {ep.value}, registered as `{name}`, which names the built-in adapter"
              for name, ep in shadowed(found)}  # listed by their module:attribute, the name that reaches them
    rows = []
    for name in dict.fromkeys([*known, *hidden, *(e for e in extra if ":" in e and e not in known)]):
        source = ("built-in" if name in BUILTIN else f"entry point {eps[name].value}" if name in eps else
                  hidden.get(name, "module:attribute"))

        def build(name: str = name, source: str = source) -> Listing:
            try:
                adapter = get(name, found)
                return Listing(name, True, adapter_versions(adapter), list(adapter_devices(adapter)), source=source)
            except (AdapterNotFound, AdapterError) as exc:  # AdapterError: versions() or devices() unusable
                return Listing(name, False, reason=str(exc), source=source)
            except Exception as exc:  # a broken third-party adapter must not hide the others
                return Listing(name, False, reason=describe(exc), source=source)

        rows.append(build() if load is None else load(name, source, build))
    return rows
