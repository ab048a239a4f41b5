"""Lockstep: a versioned standard for portable, verifiable deep-learning training.

The Python API (docs/python-api.md) is the one implementation; the `lockstep` command is a thin layer on it:

    import lockstep
    recipe = lockstep.load("examples/digits-mlp/recipe.yaml")
    problems = lockstep.validate(["examples/"])                     # list of Diagnostic
    result = lockstep.run(recipe, backend="torch", overrides={"training.steps": 50})
    result.parameters["hidden.weight"]                              # NumPy arrays, canonical layout
    comparison = lockstep.compare(recipe, backends=["reference", "torch"])
    certificate = lockstep.certify("acme", levels=[1, 2], dtypes=["float64"])
    lockstep.dump(recipe, "copy.yaml")

Every name is imported on first use (module `__getattr__`), so `import lockstep` costs a few milliseconds
and imports neither NumPy nor any framework.

`compare` and `deploy` are also the names of modules (`lockstep/compare.py`, `lockstep/deploy.py`) that the
commands and tools import. Python would bind `lockstep.compare` to that module the moment anything imported
it, hiding the function; so when the package receives one of those modules it makes the module callable as the
API function: `lockstep.compare(recipe, ...)` runs `lockstep.api.compare`, and `lockstep.compare.run_compare`
(or `from lockstep import deploy as module`) still reaches the module's contents.
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False  # `typing` itself costs more than this whole module: imported for type checkers only
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"
SPEC_VERSION = "lockstep/v1"

# public name -> the module it comes from, or `module:name` (imported on first use)
_API = {
    "load": "lockstep.api", "validate": "lockstep.api", "run": "lockstep.api", "certify": "lockstep.api",
    "dump": "lockstep.api", "provenance": "lockstep.api", "schema": "lockstep.api", "migrate": "lockstep.api",
    "RunResult": "lockstep.api", "Certificate": "lockstep.certificate", "Diagnostics": "lockstep.api",
    "Provenance": "lockstep.api", "Location": "lockstep.api", "TrainingFailed": "lockstep.api",
    "Comparison": "lockstep.compare", "DeployResult": "lockstep.deploy:Result", "Migration": "lockstep.api",
    "Diagnostic": "lockstep.spec.diagnostics", "LockstepError": "lockstep.errors", "list_adapters": "lockstep.api",
}
_CALLABLE_MODULES = {"compare", "deploy"}  # modules of the same name as an API function (see above)

__all__ = ["SPEC_VERSION", "__version__", *sorted(_API), *sorted(_CALLABLE_MODULES)]


class _CallableModule(types.ModuleType):
    """`lockstep.compare` / `lockstep.deploy`: the module, and called, the API function of its name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from lockstep import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        """The API function's, for `help()`, `inspect.signature` and editors (`__call__` says `*args, **kwargs`)."""
        import inspect

        from lockstep import api

        return inspect.signature(getattr(api, self.__name__.rpartition(".")[2]))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickled as the API function (a module cannot be): `ProcessPoolExecutor().submit(lockstep.compare, ...)`
        raised "cannot pickle '_CallableModule' object" where `lockstep.run` worked."""
        return _api_function, (self.__name__.rpartition(".")[2],)


def _api_function(name: str) -> Any:
    """What a pickled `lockstep.compare` or `lockstep.deploy` becomes: `lockstep.api`'s function of that name."""
    from lockstep import api

    return getattr(api, name)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_MODULES and isinstance(value, types.ModuleType) and \
                type(value) is types.ModuleType:  # the import system binding the submodule
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_MODULES:
        return importlib.import_module(f"{__name__}.{name}")  # binds it here, callable (_Package.__setattr__)
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute or name)


def __dir__() -> list[str]:
    return sorted({*__all__, "__version__"})
