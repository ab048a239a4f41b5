"""Which data-parallel engine a backend has, and building it (docs/distributed.md; spec/distribution.py).

An adapter-level choice, shared by `lockstep run --replicas` (lockstep/distributed.py) and the conformance
suite's level 5 (conformance/levels/data_parallel.py): the built-in engines (the reference's oracle, torch's
DDP replicas, TensorFlow's MirroredStrategy), or a third-party adapter's own `data_parallel`. Nothing here
imports a framework at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockstep.spec.wording import digits

if TYPE_CHECKING:
    from lockstep.adapters.base import Adapter, Session
    from lockstep.spec.documents import Model, Recipe

PROCESS_ENGINES = {"torch": "lockstep.adapters.torch.distributed"}
IN_PROCESS_ENGINES = {"reference", "tensorflow"}

TIMEOUT_VARIABLE = "LOCKSTEP_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300
MAX_TIMEOUT_S = 7 * 24 * 3600


def collective_timeout() -> int:
    """Seconds a collective waits for the other replicas before it fails (a dead or hung peer): the environment's
    LOCKSTEP_DIST_TIMEOUT, default 300. ValueError naming the variable for anything but a whole number of
    seconds from 1 to a week (`abc` was "cannot join the replicas' process group", exit 1; `-1` timed out at
    once)."""
    return seconds_variable(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT_S)


WORKER_TIMEOUT_VARIABLE = "LOCKSTEP_TF_COLLECTIVE_TIMEOUT"
DEFAULT_WORKER_TIMEOUT_S = 600


def worker_timeout() -> int:
    """Seconds a TF_CONFIG worker waits for the others (LOCKSTEP_TF_COLLECTIVE_TIMEOUT, default 600), checked as
    LOCKSTEP_DIST_TIMEOUT is (`abc` was "cannot join ...: could not convert string to float", exit 1)."""
    return seconds_variable(WORKER_TIMEOUT_VARIABLE, DEFAULT_WORKER_TIMEOUT_S)


def seconds_variable(name: str, default: int) -> int:
    """The environment's `name` as a whole number of seconds from 1 to a week, `default` unset; ValueError naming
    it otherwise."""
    import os

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    seconds = int(raw) if digits(raw) else 0
    if not 1 <= seconds <= MAX_TIMEOUT_S:
        raise ValueError(f"{name}={raw!r}: expected a whole number of seconds from 1 to {MAX_TIMEOUT_S} "
                         f"(a week); unset, it is {default}")
    return seconds


BACKEND_VARIABLE = "LOCKSTEP_DIST_BACKEND"
COLLECTIVE_BACKENDS = ("gloo", "nccl", "mpi", "ucc")
"""torch.distributed's process-group backends, one of which LOCKSTEP_DIST_BACKEND may name."""


def collective_backend() -> str | None:
    """The process-group backend LOCKSTEP_DIST_BACKEND names (None: unset, the device's own). ValueError naming the
    variable for any other name (`bogus` was an internal error from torch's AssertionError, exit 3)."""
    import os

    raw = os.environ.get(BACKEND_VARIABLE, "").strip()
    if raw and raw not in COLLECTIVE_BACKENDS:
        raise ValueError(f"{BACKEND_VARIABLE}={raw!r}: expected one of {', '.join(COLLECTIVE_BACKENDS)} (torch's "
                         "process-group backends); unset, it is nccl for CUDA and gloo for the CPU")
    return raw or None


def engine_kind(backend: str, adapter: Adapter | None = None) -> str | None:
    """"processes" (one process per replica), "in-process" (every replica in this process) or None (the
    backend has no data-parallel engine). A third-party adapter declares one with a `data_parallel` method and
    a `data_parallel_processes` attribute (docs/distributed.md)."""
    from lockstep.adapters.registry import builtin_key

    name = builtin_key(backend)
    if name in PROCESS_ENGINES:
        return "processes"
    if name in IN_PROCESS_ENGINES:
        return "in-process"
    if adapter is None:
        from lockstep.adapters.registry import get

        try:
            adapter = get(backend)
        except Exception:
            return None
    if not callable(getattr(adapter, "data_parallel", None)):
        return None
    return "processes" if getattr(adapter, "data_parallel_processes", False) else "in-process"


def data_parallel_session(adapter: Adapter, model: Model, *, dtype: str, device: str, recipe: Recipe,
                          replicas: int, batch_norm: str | None, driver: bool = False) -> Session:
    """A session training `replicas` replicas of `model` with the standard's data-parallel semantics.

    For an engine with one process per replica, `driver=False` is this process's replica (its group must be
    joined: `join`), `driver=True` is every replica, started in a pool of worker processes and driven from here
    (the conformance suite, benchmarks). In-process engines are the same either way."""
    from lockstep.adapters.reference import ReferenceAdapter

    custom = getattr(adapter, "data_parallel", None)
    if callable(custom):
        from lockstep.adapters.checked import session_answer

        return session_answer(custom(model, dtype=dtype, device=device, recipe=recipe, replicas=replicas,
                                     batch_norm=batch_norm, driver=driver),
                              "data_parallel()", ("set_parameters", "get_parameters", "train_step"))
    if isinstance(adapter, ReferenceAdapter):
        from lockstep.adapters.reference_parallel import DataParallelReferenceSession

        adapter.build(model, dtype=dtype, device=device)  # the reference's own device and dtype errors
        return DataParallelReferenceSession(model, recipe, dtype, replicas=replicas, batch_norm=batch_norm)
    name = getattr(adapter, "name", "")
    if name == "torch":
        from lockstep.adapters.torch import distributed as torch_dp

        adapter.check_target(dtype, device)  # type: ignore[attr-defined]
        cls = torch_dp.TorchDataParallelSession if driver else torch_dp.TorchReplicaSession
        return cls(model, dtype=dtype, device=device, recipe=recipe, replicas=replicas, batch_norm=batch_norm)
    if name == "tensorflow":
        from lockstep.adapters.tensorflow import distributed as tf_dp

        if not driver and device == "cpu" and not tf_dp.multi_worker():
            tf_dp.configure_logical_cpus(replicas)  # before anything starts TensorFlow's runtime
        adapter.check_target(dtype, device)  # type: ignore[attr-defined]
        cls = tf_dp.TFDataParallelDriver if driver else tf_dp.TFDataParallelSession
        return cls(model, dtype=dtype, device=device, recipe=recipe, replicas=replicas, batch_norm=batch_norm)
    from lockstep.adapters.base import UnsupportedConstruct

    raise UnsupportedConstruct("distribution", f"the `{name}` adapter has no data-parallel engine")
