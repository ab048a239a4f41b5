"""Data-parallel runs: `lockstep run RECIPE --replicas N` (or the recipe's `distribution`), and `torchrun`.

The semantics are the standard's (docs/spec/v1-semantics.md, "Data parallelism"); this module only starts
and stops processes and builds the engine of each backend (docs/distributed.md):

- an engine with one process per replica (torch: DDP over torch.distributed) is started the standard way:
  `lockstep run` becomes a launcher that holds the run folder's lock and starts N copies of the same
  command with torchrun's environment variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
  MASTER_ADDR, MASTER_PORT); `torchrun --nproc-per-node N -m lockstep run ...` starts the same workers
  itself (and multi-node runs use torchrun's rendezvous, with no code here). Rank 0 writes metrics,
  checkpoints and the report; a worker that dies ends the run (exit 1) with its rank and cause;
- an engine that runs every replica in this process (the reference, the oracle of the others;
  TensorFlow's MirroredStrategy over N logical devices) trains here, like a one-process run.

Nothing here imports a framework at module level: `lockstep run` without replicas never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lockstep.adapters.data_parallel import (
    TIMEOUT_VARIABLE,
    collective_backend,
    collective_timeout,
    data_parallel_session,
    engine_kind,
    worker_timeout,
)
from lockstep.spec.wording import digits

if TYPE_CHECKING:
    import argparse

    from lockstep.runner import Prepared
    from lockstep.spec.documents import Recipe

ENV_LAUNCHER = "LOCKSTEP_LAUNCHER"
"""Set by `lockstep run`'s launcher in its workers (its pid): the launcher holds the run folder's lock."""
TF_CONFIG = "TF_CONFIG"
"""TensorFlow's cluster description: with `--backend tensorflow`, each process is one worker of a
MultiWorkerMirroredStrategy (one replica per worker), started by the user or a cluster manager."""
WORLD_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
GRACE_S = 5.0  # how long the launcher waits for the other workers after one failed, before it kills them


def free_port() -> int:
    """A TCP port free on the loopback interface right now (the rendezvous of a local process group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------- the world
@dataclass(frozen=True)
class World:
    """This process's place in a launched group, from torchrun's environment variables."""

    rank: int
    size: int
    local_rank: int
    launcher: str  # "lockstep" (this module's launcher), "torchrun" (or any launcher setting the variables) or
    # "TF_CONFIG" (TensorFlow workers)

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] | None = None) -> World | None:
        """The world described by RANK and WORLD_SIZE (with LOCAL_RANK), or None when they are not set.
        ValueError (one line) for values that are not a rank inside a world."""
        env = os.environ if env is None else env
        if "RANK" not in env and "WORLD_SIZE" not in env:
            return None
        values = {}
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
            raw = env.get(name, "0" if name == "LOCAL_RANK" else "")
            if not digits(raw.strip()):
                raise ValueError(f"the environment variable {name}={raw!r} is not a non-negative integer "
                                 "(RANK and WORLD_SIZE come from torchrun or `lockstep run --replicas N`)")
            values[name] = int(raw)
        if values["WORLD_SIZE"] < 1 or values["RANK"] >= values["WORLD_SIZE"]:
            raise ValueError(f"RANK={values['RANK']} is not a rank of WORLD_SIZE={values['WORLD_SIZE']}")
        port = env.get("MASTER_PORT")  # torch's own words came after the start-up, exit 1 ("invalid literal")
        if port is not None and not (digits(port.strip()) and 1 <= int(port) <= 65535):
            raise ValueError(f"the environment variable MASTER_PORT={port!r} is not a TCP port (1 to 65535)")
        return cls(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"],
                   "lockstep" if env.get(ENV_LAUNCHER) else "torchrun")

    @classmethod
    def from_tf_config(cls, env: dict[str, str] | os._Environ[str] | None = None) -> World | None:
        """The TensorFlow workers described by TF_CONFIG (`cluster.worker` and this process's `task`), or None when
        it is not set: one replica per worker, worker 0 writes the run. ValueError (one line) for a TF_CONFIG that
        does not describe a worker of a list of workers."""
        env = os.environ if env is None else env
        raw = env.get(TF_CONFIG, "").strip()
        if not raw:
            return None
        try:
            config = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"TF_CONFIG is not JSON ({exc.msg} at character {exc.pos})") from None
        cluster = config.get("cluster") if isinstance(config, dict) else None
        task = config.get("task") if isinstance(config, dict) else None
        workers = cluster.get("worker") if isinstance(cluster, dict) else None
        if not isinstance(workers, list) or not workers or not all(isinstance(w, str) and w for w in workers):
            raise ValueError('TF_CONFIG has no `cluster.worker` list of "host:port" addresses')
        others = sorted(set(cluster) - {"worker"})
        if others:
            raise ValueError(f"TF_CONFIG's cluster has {', '.join(others)}: Lockstep's TensorFlow replicas are "
                             "workers only (worker 0 writes the run; docs/distributed.md)")
        index = task.get("index") if isinstance(task, dict) else None
        if (not isinstance(task, dict) or task.get("type") != "worker" or not isinstance(index, int)
                or isinstance(index, bool) or not 0 <= index < len(workers)):
            raise ValueError(f"TF_CONFIG's `task` must be {{\"type\": \"worker\", \"index\": i}} with 0 <= i < "
                             f"{len(workers)} (its workers); got {json.dumps(task)}")
        return cls(index, len(workers), 0, TF_CONFIG)


class LostContact(RuntimeError):
    """A collective by which the replicas agree failed: another replica died or hung (its launcher names it)."""


def _guarded(collective: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`collective` raising LostContact where the engine reports a failed collective (_lost_contact), so that a
    caller tells a peer's death from its own failure: it came out of `agree` as an internal error."""

    def call(value: Any) -> Any:
        try:
            return collective(value)
        except LostContact:
            raise
        except Exception as exc:
            if not _lost_contact(exc):
                raise
            raise LostContact(str(exc)) from exc

    return call


@dataclass
class Replica:
    """A rank's handle on its group, for the runner: who it is and how ranks agree on one value."""

    rank: int = 0
    size: int = 1
    share: Callable[[Any], Any] = field(default=lambda obj: obj)  # rank 0's value, on every rank
    agree: Callable[[int], int] = field(default=lambda code: code)  # the largest of every rank's code
    info: dict[str, Any] = field(default_factory=dict)  # the process group, for report.json
    # what a rank does before its process ends with `code` (TensorFlow's workers outlive worker 0: `outlive_first`)
    finish: Callable[[int], None] = field(default=lambda code: None)

    @property
    def writer(self) -> bool:
        return self.rank == 0


# ------------------------------------------------------------------------------------------ engines
# Which engine a backend has and how to build it are the adapters' business (adapters/data_parallel.py, which
# the conformance suite's level 5 uses too); re-exported here for the runner and the launcher.


def join(backend: str, world: World | None, device: str) -> Replica:
    """This process's Replica: for an engine with a process per replica, join its process group (gloo on the
    CPU, NCCL on CUDA; a one-replica run without a launcher makes a group of one); in-process engines: rank 0 of 1."""
    from lockstep.adapters.registry import builtin_key

    name = builtin_key(backend)
    if name == "tensorflow" and world is not None and world.launcher == TF_CONFIG:
        from lockstep.adapters.tensorflow import distributed as tf_dp

        share, agree, info = tf_dp.join_workers(world.size)
        return Replica(world.rank, world.size, _guarded(share), _guarded(agree),
                       {"engine": "processes", "launcher": TF_CONFIG, **info}, tf_dp.outlive_first)
    if name != "torch":
        return Replica(info={"engine": "in-process"})
    # c10d logs a rendezvous that fails (a master that never comes, a host that does not resolve) as a 40-frame C++
    # backtrace before the exception this command says in one line; read when torch loads, so only if it has not
    if "torch" not in sys.modules:
        os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    import torch
    import torch.distributed as dist

    from lockstep.adapters.torch import distributed as torch_dp

    if world is None:
        rank, size, method = 0, 1, f"tcp://127.0.0.1:{free_port()}"
    else:
        rank, size, method = world.rank, world.size, "env://"
    if device.startswith("cuda") and size > 1:
        torch.cuda.set_device(world.local_rank if world is not None else 0)
    with _join_deadline(torch_dp.TIMEOUT.total_seconds() + 10 if world is not None else None):
        info = torch_dp.init_process_group(rank, size, device, method)
    objects = dist.new_group(backend="gloo") if info["backend"] != "gloo" else None

    def agree(code: int) -> int:
        t = torch.tensor([int(code)], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=objects)
        return int(t.item())

    info.update({"engine": "processes", "launcher": world.launcher if world else "lockstep",
                 "master_addr": os.environ.get("MASTER_ADDR") if world else "127.0.0.1",
                 "master_port": os.environ.get("MASTER_PORT") if world else None})
    return Replica(rank, size, _guarded(lambda obj: torch_dp.share(obj, objects)), _guarded(agree), info)


@contextlib.contextmanager
def _join_deadline(seconds: float | None) -> Iterator[None]:
    """End this process (exit 1, said in one line) if joining the group takes longer than `seconds`: torch's store
    client waits without a deadline for a handshake from a MASTER_PORT that another program holds (a server that
    accepts and never answers: no timeout, for good). The main thread is in native code then; only the process can
    be ended."""
    if seconds is None:
        yield
        return
    import threading

    joined = threading.Event()

    def watch() -> None:
        if not joined.wait(seconds):
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            _say(f"cannot join the replicas' process group: no answer from {where} within {seconds:g} s (is it this "
                 f"run's rank 0, or another program's port? {TIMEOUT_VARIABLE} sets the wait)")
            _exit(1)

    threading.Thread(target=watch, name="lockstep-join-deadline", daemon=True).start()
    try:
        yield
    finally:
        joined.set()


def leave(backend: str) -> None:
    """Leave the process group joined by `join` (a no-op for in-process engines)."""
    if backend.lower() in ("torch", "pytorch") and "torch.distributed" in sys.modules:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


# --------------------------------------------------------------------------------------- resuming
def effective_statistics(distribution: dict[str, Any] | None, has_batch_norm: bool) -> str:
    """What batch norm's training statistics are over: "global batch", or "shards of N" (local, N > 1)."""
    n = int((distribution or {}).get("replicas", 1))
    local = (distribution or {}).get("batch_norm") == "local"
    return f"shards of {n} replicas (`batch_norm: local`)" if has_batch_norm and local and n > 1 else "global batch"


def resume_note(saved: dict[str, Any] | None, now: dict[str, Any] | None, has_batch_norm: bool) -> str | None:
    """What a resume on another replica count changes, or None when nothing does (docs/distributed.md)."""
    n_saved = int((saved or {}).get("replicas", 1))
    n_now = int((now or {}).get("replicas", 1))
    before, after = effective_statistics(saved, has_batch_norm), effective_statistics(now, has_batch_norm)
    if before == after and n_saved == n_now:
        return None
    head = f"the checkpoint was written by {n_saved} replica{'s' * (n_saved != 1)}, this run has {n_now}"
    if before == after:
        why = f" (batch-norm statistics over the {after})" if has_batch_norm else ""  # no batch norm: nothing to say
        return (f"{head}: the semantics do not depend on the replica count{why}, so it continues the same run, "
                "equal up to the order of additions")
    return (f"{head}: batch-norm statistics in training were over the {before} and are now over the {after}, "
            "so from here the run is not the one an uninterrupted run would have made")


# ------------------------------------------------------------------------------------------ the command
def _say(message: str) -> None:
    print(f"lockstep run: {message}", file=sys.stderr)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def max_local_replicas() -> int:
    """How many replicas one machine may start (processes that each load a framework, or TensorFlow devices):
    LOCKSTEP_MAX_REPLICAS, else twice the usable CPUs and at least 8."""
    env = os.environ.get(MAX_REPLICAS_VARIABLE, "").strip()
    if not env:
        return max(8, 2 * _usable_cpus())
    if not digits(env) or int(env) < 1:  # `abc`, 0 and -5 were dropped without a word for the default
        raise ValueError(f"{MAX_REPLICAS_VARIABLE}={env!r}: expected a whole number of replicas, at least 1; unset, "
                         f"it is {max(8, 2 * _usable_cpus())} here (twice the usable CPUs, at least 8)")
    return int(env)


MAX_REPLICAS_VARIABLE = "LOCKSTEP_MAX_REPLICAS"


def requested(args: argparse.Namespace, recipe: Recipe, world: World | None = None) -> int | None:
    """How many replicas this command asks for (None: an ordinary one-process run)."""
    from lockstep.spec.distribution import replicas_of

    world = world if world is not None else World.from_env()
    if world is not None:
        return world.size
    if args.replicas is not None:
        return args.replicas
    return replicas_of(recipe) if recipe.distribution is not None and replicas_of(recipe) > 1 else None


def _effective(args: argparse.Namespace) -> tuple[Any, Any, Path] | int:
    """(recipe, model, base) as the run sees it, `--set` and `--seed` applied (lockstep/effective.py, as the API
    reads it), or the exit code after printing why it cannot be loaded."""
    from lockstep import effective
    from lockstep.errors import LockstepError
    from lockstep.spec.diagnostics import escape_text

    try:
        eff = effective.read(args.recipe, getattr(args, "overrides", None), getattr(args, "seed", None))
    except LockstepError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        _say(escape_text(str(exc)))
        return exc.exit_code
    return eff.recipe, eff.model, eff.base


def run_command(args: argparse.Namespace) -> int | None:
    """The data-parallel paths of `lockstep run`; None when the command is an ordinary one-process run."""
    from lockstep.effective import as_integer
    from lockstep.errors import LockstepError

    if getattr(args, "replicas", None) is not None and args.replicas < 1:
        _say("--replicas must be at least 1")
        return 2
    try:  # as one process's run checks it (`--steps -3` wrote an empty "ok" run of -3 steps with replicas)
        as_integer(getattr(args, "steps", None), "steps", 1, "--steps")
    except LockstepError as exc:
        _say(str(exc))
        return exc.exit_code
    try:
        world = World.from_env()
        if world is None and _is_tensorflow(args.backend):
            world = World.from_tf_config()
    except ValueError as exc:
        _say(str(exc))
        return 2
    if world is None and args.replicas is None and not _may_distribute(args.recipe) and not _sets_distribution(args):
        return None  # no replicas asked for anywhere: the ordinary run loads the recipe itself
    loaded = _effective(args)
    if isinstance(loaded, int):
        return loaded
    recipe = loaded[0]
    n = requested(args, recipe, world)
    if n is None:
        return None
    if getattr(args, "tensorboard", False):
        _say("--tensorboard is not available with data-parallel replicas in this release; leave it out")
        return 2
    try:  # the environment's settings, before any replica starts
        collective_timeout()
        if world is not None and world.launcher == TF_CONFIG:
            worker_timeout()
        collective_backend()
        most = max_local_replicas()
    except ValueError as exc:
        _say(str(exc))
        return 2
    if getattr(args, "threads", None) is not None:  # it was accepted and ignored (100,000 included)
        _say("--threads is not available with data-parallel replicas in this release (each replica keeps its "
             "framework's own default threads); leave it out")
        return 2
    started = "" if world is None else (
        f"TF_CONFIG names {world.size} worker{'s' * (world.size != 1)} (one replica each)"
        if world.launcher == TF_CONFIG else
        f"{world.launcher} started {world.size} process{'es' * (world.size != 1)} (WORLD_SIZE={world.size})")
    if world is not None and args.replicas is not None and args.replicas != world.size:
        _say(f"--replicas {args.replicas}, but {started}; give the same count, or leave --replicas out")
        return 2
    stated = recipe.distribution.replicas if recipe.distribution is not None and \
        "replicas" in recipe.distribution.model_fields_set else None
    if world is not None and world.launcher != "lockstep" and args.replicas is None and stated is not None \
            and stated != world.size:  # it trained world.size replicas without a word (local batch norm: another run)
        _say(f"the recipe's distribution.replicas is {stated}, but {started}; start {stated}, or give --replicas "
             f"{world.size} to override the recipe")
        return 2
    kind = engine_kind(args.backend)
    if kind is None:
        from lockstep.adapters.registry import get

        try:
            get(args.backend)
        except LockstepError as exc:  # a misspelt name is said as without replicas, not as "no engine"
            _say(str(exc))
            return exc.exit_code
        except Exception as exc:  # an adapter that cannot load: its reason
            _say(f"backend `{args.backend}` cannot load: {type(exc).__name__}: {exc}")
            return 2
        _say(f"backend `{args.backend}` has no data-parallel engine (torch, tensorflow and reference have one); "
             "run it without replicas")
        return 2
    starts_here = (kind == "processes" and world is None) or (_is_tensorflow(args.backend) and world is None)
    if starts_here and n > most:
        _say(f"{n} replicas would run {n} copies of the model on this machine's {_usable_cpus()} CPUs; at most {most} "
             "here (LOCKSTEP_MAX_REPLICAS raises it); `--backend reference --replicas N` checks the semantics of any N")
        return 2
    if kind == "in-process" and world is not None and world.size > 1 and world.launcher != TF_CONFIG:
        _say(f"backend `{args.backend}` runs all its replicas in one process: start it without torchrun "
             f"(`lockstep run ... --backend {args.backend} --replicas {world.size}`)")
        return 2
    if kind == "processes" and world is None and n > 1:
        return launch(args, loaded, n)
    if kind == "processes" and world is None and (problem := _device_problem(args.device, n)):
        _say(problem)  # one replica joins its group here: NCCL's "not built in" was said with exit 1
        return 2
    return train_replicas(args, loaded, n, world)


def _lost_contact(exc: BaseException) -> bool:
    """Whether `exc` is how an engine reports a collective that failed: torch raises RuntimeError (gloo, NCCL);
    TensorFlow's workers raise its OpError kinds (UnavailableError, DeadlineExceededError, ...)."""
    if isinstance(exc, RuntimeError):
        return True
    return type(exc).__module__.startswith("tensorflow.") and type(exc).__name__.endswith("Error")


def _is_tensorflow(backend: str) -> bool:
    return backend.lower() in ("tensorflow", "tf")


def _may_distribute(recipe: str) -> bool:
    """Whether the recipe file mentions a `distribution` section at all (a cheap look before loading it: an
    ordinary run then parses it once, in lockstep.api)."""
    try:
        if not stat.S_ISREG(os.stat(recipe).st_mode):
            return False  # a FIFO would block the open; the ordinary path says it is not a regular file
        with open(recipe, "rb") as fh:
            return b"distribution" in fh.read(8 * 1024 * 1024)
    except (OSError, ValueError):
        return False  # the ordinary path reports why it cannot be read


def _sets_distribution(args: argparse.Namespace) -> bool:
    """Whether a `--set` names the distribution (`--set 'distribution={replicas: 2}'` on a recipe without one was
    recorded in the run folder as applied, and the run trained in one process)."""
    from lockstep.effective import key_parts

    for given in getattr(args, "overrides", None) or []:
        try:  # the grammar `--set` itself reads keys with; a malformed one is said when the recipe is read
            if key_parts(str(given).partition("=")[0].strip())[:1] == ("distribution",):
                return True
        except ValueError:
            continue
    return False


def out_folder(args: argparse.Namespace, recipe: Recipe) -> Path:
    """The run folder `lockstep run` writes into (`--out`, or runs/<recipe name>-<backend>); an empty `--out` (an
    unset shell variable) is refused, as one process's run refuses it."""
    from lockstep.runfolder import check_out_arg, default_out

    check_out_arg(args.out, "--out", "lockstep run")
    return default_out(args.out, recipe.metadata.name, args.backend)


def _plan(args: argparse.Namespace, n: int) -> tuple[Prepared, int] | int:
    """The prepared run and the replica count, or the exit code after saying why the count cannot run it."""
    from lockstep.runner import RunError, prepare_loaded
    from lockstep.spec import distribution

    loaded = _effective(args)
    if isinstance(loaded, int):
        return loaded
    try:
        prep = prepare_loaded(*loaded, args.steps, Path(args.recipe))
    except RunError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        _say(str(exc))
        return exc.exit_code
    found = distribution.problems(prep.recipe, prep.graph, len(prep.data.x_train), prep.total_steps, n)
    if found:
        source = _count_source(args)
        for p in found:
            _say(f"{n} replicas ({source}): {'.'.join(map(str, p.path))}: {p.message}")
        return 2
    return prep, n


def _count_source(args: argparse.Namespace) -> str:
    """Where the replica count came from, for a refusal: under torchrun it was said to be the recipe's
    distribution, which the recipe did not have."""
    if args.replicas is not None:
        return "--replicas"
    try:
        world = World.from_env() or World.from_tf_config()
    except ValueError:
        world = None
    if world is None or world.launcher == "lockstep":
        return "the recipe's distribution"
    return "TF_CONFIG's workers" if world.launcher == TF_CONFIG else f"{world.launcher}'s WORLD_SIZE"


def _write_resolved(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """recipe.resolved.yaml written as `lockstep run` writes it in one process, and report.json's `overrides` and
    `recipe_resolved` entries; RunError (exit 2) saying why where it cannot be written."""
    import hashlib

    from lockstep import effective
    from lockstep.effective import RESOLVED, resolved_yaml
    from lockstep.errors import LockstepError, RunError
    from lockstep.runfolder import cannot_write
    from lockstep.spec import atomic

    try:
        eff = effective.read(args.recipe, getattr(args, "overrides", None), getattr(args, "seed", None))
        text = resolved_yaml(eff)
        atomic.write_text(out / RESOLVED, text)
    except LockstepError as exc:
        raise RunError(f"cannot write {out / RESOLVED}: {exc}") from None
    except OSError as exc:
        raise RunError(cannot_write(out, exc, started=False)) from None
    return {"overrides": [c.said for c in eff.changes],
            "recipe_resolved": {"file": RESOLVED, "sha256": hashlib.sha256(text.encode()).hexdigest()}}


def _checkpointed(args: argparse.Namespace, recipe: Any) -> bool | None:
    """claim's `checkpointed`: for --resume, whether the recipe writes checkpoints (None: not resuming)."""
    return recipe.checkpoint is not None if args.resume else None


def train_replicas(args: argparse.Namespace, loaded: tuple[Any, Any, Path], n: int, world: World | None) -> int:
    """Train as this process's replica (rank 0 of an in-process engine, or one rank of a launched group)."""
    from lockstep.runfolder import FolderError, claim_run, recipe_inputs

    recipe = loaded[0]
    try:
        out = out_folder(args, recipe)
    except FolderError as exc:  # every rank says it and stops, before any joins the group
        print(exc, file=sys.stderr)
        return 2
    launched = world is not None and world.launcher == "lockstep"
    if launched:
        _die_with_launcher()
    planned = _plan(args, n)  # the same files on every rank: each refuses alone, before any waits at a rendezvous
    if isinstance(planned, int):
        return planned
    try:
        replica = join(args.backend, world, args.device)
    except (RuntimeError, ValueError, OSError) as exc:
        _say(f"cannot join the replicas' process group: {' '.join(str(exc).split())[:300]}")
        return 1
    folder = None
    try:
        code = 0
        if replica.writer and not launched:  # torchrun, or an in-process engine: rank 0 holds the folder
            mode = "resume" if args.resume else "overwrite" if args.overwrite else "fresh"
            try:
                folder = claim_run(out, inputs=recipe_inputs(args.recipe, loaded), mode=mode,
                                   checkpointed=_checkpointed(args, recipe))
                for note in folder.notes:
                    _say(note)
            except FolderError as exc:
                print(exc, file=sys.stderr)
                code = 2
        code = replica.agree(code)
        if code == 0:
            code = _train(args, out, folder, planned, replica)
    except KeyboardInterrupt as exc:  # Ctrl-C 130; SIGTERM/SIGHUP (the CLI's Terminated) 143/129, as one process
        code = 128 + int(getattr(exc, "signum", signal.SIGINT))
    except LostContact as exc:  # while the replicas agreed (on a build, the folder): the launcher names the dead one
        _say(f"replica {replica.rank}: lost contact with the other replicas ({_short(exc)})")
        code = 1
    finally:
        if folder is not None:
            folder.release()
    if replica.size > 1:  # a process of a group: end without gloo's destructors, which can abort (SIGABRT) at exit
        replica.finish(code)
        _exit(code)
    with contextlib.suppress(Exception):
        leave(args.backend)
    return code


def _exit(code: int) -> None:
    """End this replica's process now, its output flushed ("terminate called without an active exception": gloo's
    threads, torn down by the interpreter's exit, abort a process that had finished its work)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _train(args: argparse.Namespace, out: Path, folder: Any, planned: tuple[Prepared, int], replica: Replica) -> int:
    from lockstep.adapters.base import UnsupportedConstruct
    from lockstep.adapters.checked import AdapterRaised, adapter_code
    from lockstep.adapters.registry import AdapterNotFound, get
    from lockstep.progress import Progress
    from lockstep.runfolder import FolderError, cannot_write
    from lockstep.runner import RunError, RunFailed, backend_versions, train, write_report

    prep, n = planned
    batch_norm = prep.recipe.distribution.batch_norm if prep.recipe.distribution is not None else None
    session, problem = None, ""
    try:
        adapter = get(args.backend)
        versions = backend_versions(adapter, args.backend)  # refused before any run folder is written
        with adapter_code("build()"):
            session = data_parallel_session(adapter, prep.model, dtype=prep.recipe.dtype, device=args.device,
                                            recipe=prep.recipe, replicas=n, batch_norm=batch_norm)
    except (AdapterNotFound, RunError) as exc:
        problem = str(exc)
    except UnsupportedConstruct as exc:
        problem = f"backend `{args.backend}` cannot run this recipe: {exc.subject()}: {exc.reason}"
    except (ValueError, RuntimeError, AdapterRaised) as exc:
        problem = f"backend `{args.backend}`: {' '.join(str(exc).split())[:300]}"
    except Exception as exc:  # a third-party data_parallel()'s own failure (TypeError...), as build_session says it
        problem = f"backend `{args.backend}` could not build a session: {type(exc).__name__}: " \
                  f"{' '.join(str(exc).split())[:300]}"
    # said once the replicas agree: a build that failed because a replica died (DDP's first broadcast) is a lost
    # contact, which the agreement raises, not the backend's fault
    code = replica.agree(0 if session is not None else 2)
    if code:
        if problem:
            _say(problem)
        return code
    assert session is not None
    if folder is not None:
        try:
            folder.start()
        except FolderError as exc:
            print(exc, file=sys.stderr)
            code = 2
    code = replica.agree(code)
    if code:
        return code
    name = prep.recipe.metadata.name
    progress = Progress(prep.total_steps, label=f"{name} [{args.backend} x{n}]",
                        enabled=replica.writer and not args.quiet)
    t0 = time.perf_counter()
    extra = {"distribution": {"strategy": "data_parallel", "replicas": n, "batch_norm": batch_norm,
                              "world_size": replica.size if replica.info.get("engine") == "processes" else 1,
                              **replica.info}}
    if hasattr(session, "batch_norm_note") and batch_norm == "sync":
        extra["distribution"]["sync_batch_norm"] = session.batch_norm_note()

    def started(records: list[dict[str, Any]]) -> None:
        """What a one-process run records when it starts (a resume: from a checkpoint that passed its checks, so
        a refused one leaves the folder's recipe.resolved.yaml as it was): that file and the overrides in force.
        The runner calls it on rank 0 and shares its RunError with every rank."""
        extra.update(_write_resolved(args, out))

    def report(result: Any, error: str | None = None) -> int:
        if not replica.writer:
            return 0
        try:
            if folder is not None:
                folder.check_in_place(unwritten="its report.json and loss.svg were")
            write_report(out, prep, result, backend=args.backend, device=args.device, versions=versions,
                         wall=time.perf_counter() - t0, error=error, extra=extra)
        except OSError as exc:
            _say(cannot_write(out, exc, report=True))
            return 2
        except FolderError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0

    try:
        result = train(prep, session, out=out, resume=args.resume, progress=progress if replica.writer else None,
                       backend=args.backend, replica=replica, on_start=started,
                       guard=folder.check_in_place if folder is not None else None)
    except RunFailed as exc:
        progress.close()
        code = report(exc.result, str(exc))
        if replica.writer:
            _say(str(exc))
        return max(1, code)
    except RunError as exc:
        progress.close()
        if replica.writer:
            _say(str(exc))
        return exc.exit_code
    except OSError as exc:
        progress.close()
        _say(cannot_write(out, exc, checkpointed=prep.recipe.checkpoint is not None))
        return 2
    except FolderError as exc:  # the run folder went (check_in_place); the other replicas lose contact and end
        progress.close()
        print(exc, file=sys.stderr)
        return 2
    except Exception as exc:  # a collective failed: another replica died or hung
        if not _lost_contact(exc):
            raise
        progress.close()
        _say(f"replica {replica.rank}: lost contact with the other replicas ({_short(exc)})")
        if replica.size > 1:  # a process group with a dead peer can abort in its destructor: leave at once
            _exit(1)
        return 1
    progress.close()
    code = report(result)
    if replica.writer:
        summary = ", ".join(f"{k} {v:.4g}" for k, v in result.eval_metrics.items())
        resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
        print(f"{name}: {result.steps} steps on {args.backend}, {n} replica{'s' * (n != 1)}{resumed}; final train loss "
              f"{result.final_loss:.4g}; eval {summary}; outputs in {out}/")
    return code


def _short(exc: BaseException) -> str:
    """The gist of a collective's error (gloo's start with a source location in brackets)."""
    message = getattr(exc, "message", None)  # TensorFlow's OpError: its message, without the graph's node names
    if isinstance(message, str) and message.strip():
        first = message.strip().splitlines()[0]
        return f"{type(exc).__name__}: {first}"[:160]
    text = " ".join(str(exc).split())
    text = text.rsplit("] ", 1)[-1]
    return (text.split(". ")[0] or type(exc).__name__)[:160]


# -------------------------------------------------------------------------------------------- launcher
def _die_with_launcher() -> None:
    """A launched worker ends with its launcher (Linux's PR_SET_PDEATHSIG), so that no replica trains on in a
    run folder whose lock is gone; a launcher already gone ends it at once."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    launcher = os.environ.get(ENV_LAUNCHER, "")
    if digits(launcher) and os.getppid() != int(launcher):
        os._exit(1)


@dataclass
class Worker:
    rank: int
    proc: subprocess.Popen[bytes]
    log: IO[bytes] | None  # stderr of ranks > 0 (rank 0 writes to the launcher's own): a file with no name


def launch(args: argparse.Namespace, loaded: tuple[Any, Any, Path], n: int) -> int:
    """Hold the run folder and start `n` workers (this same command, with torchrun's variables); exit with
    theirs, or 1 naming the first worker that died and why."""
    from lockstep.runfolder import FolderError, claim_run, recipe_inputs

    recipe = loaded[0]
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "fresh"
    try:
        out = out_folder(args, recipe)
        folder = claim_run(out, inputs=recipe_inputs(args.recipe, loaded), mode=mode,
                           checkpointed=_checkpointed(args, recipe))
    except FolderError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        for note in folder.notes:
            _say(note)
        planned = _plan(args, n)  # said once, here, before any process starts
        if isinstance(planned, int):
            return planned
        problem = _device_problem(args.device, n)
        if problem:
            _say(problem)
            return 2
        try:
            folder.start()
        except FolderError as exc:
            print(exc, file=sys.stderr)
            return 2
        return _supervise(args, n, out)
    finally:
        folder.release()


def _device_problem(device: str, n: int) -> str | None:
    if not device.startswith("cuda"):
        return None
    if n == 1:  # one replica takes the GPU --device names, as one process does
        from lockstep.adapters.torch.adapter import TorchAdapter

        problem = TorchAdapter().device_problem(device)
        return f"--device {device}: {problem}" if problem else None
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device != "cuda":
        return f"--device {device} names one GPU; {n} replicas take one GPU each: use --device cuda"
    if count < n:
        return f"{n} replicas on CUDA need {n} GPUs (one per replica, NCCL); torch sees {count}"
    return None


def _worker_env(rank: int, n: int, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"RANK": str(rank), "WORLD_SIZE": str(n), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(n),
                "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), ENV_LAUNCHER: str(os.getpid()),
                "GROUP_RANK": "0", "ROLE_RANK": str(rank), "ROLE_WORLD_SIZE": str(n)})
    if "OMP_NUM_THREADS" not in os.environ:
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = os.cpu_count() or 1
        env["OMP_NUM_THREADS"] = str(max(1, cpus // n))
    return env


def _supervise(args: argparse.Namespace, n: int, out: Path) -> int:
    argv = list(getattr(args, "_argv", None) or sys.argv[1:])
    port = free_port()
    workers: list[Worker] = []
    try:
        for rank in range(n):
            # unnamed: nothing is left in the temporary folder, even by a launcher killed with SIGKILL
            log = tempfile.TemporaryFile(prefix="lockstep-replica-") if rank else None
            try:
                proc = subprocess.Popen([sys.executable, "-m", "lockstep", *argv], env=_worker_env(rank, n, port),
                                        stdout=subprocess.DEVNULL if rank else None, stderr=log)
            except BaseException:
                if log is not None:
                    log.close()
                raise
            workers.append(Worker(rank, proc, log))
        return _wait(workers, out)
    finally:  # Ctrl-C or SIGTERM/SIGHUP: the replicas are stopped here, and the command says which and exits 130/143
        _stop(workers)
        for w in workers:
            if w.log is not None:
                w.log.close()


def _wait(workers: list[Worker], out: Path) -> int:
    """Wait for every worker; on the first failure stop the others and say which rank failed and why."""
    first: Worker | None = None
    why = ""  # said of `first` where its exit code cannot say it (a stopped replica, ended here)
    while True:
        running = [w for w in workers if w.proc.poll() is None]
        failed = [w for w in workers if w.proc.returncode not in (None, 0)]
        if failed and first is None:
            # a replica stopped (SIGSTOP, SIGTSTP) and alive held the others up until their collective timed out;
            # else, of those seen ending in the same poll, the one a signal ended, not those that lost contact
            halted = [w for w in running if _halted(w.proc.pid)]
            if halted:
                first = halted[0]
                why = (f"(pid {first.proc.pid}) was stopped by a signal (SIGSTOP or SIGTSTP) and held the others up "
                       "until they gave up waiting for it")
            else:
                first = min(failed, key=lambda w: (not _signalled(w.proc.returncode), w.rank))
            deadline = time.monotonic() + GRACE_S
            while time.monotonic() < deadline and any(w.proc.poll() is None for w in workers):
                time.sleep(0.05)
            _stop(workers)
            break
        if not running:
            break
        time.sleep(0.05)
    if first is None:
        return 0
    codes = {w.proc.returncode for w in workers}
    if len(codes) == 1 and first.proc.returncode > 0 and not why:  # every replica ended alike (said by rank 0)
        return first.proc.returncode
    _say(f"replica {first.rank} of {len(workers)} {why or _cause(first)}; the run stopped and the other replicas were "
         f"ended{_last_checkpoint(out)}")
    # a replica that said it could not read or write (exit 2: a full disk) ends the run as one process would
    return 2 if first.proc.returncode == 2 and not why else 1


STOPPING = {int(getattr(signal, n)) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}
"""Signals a replica's command handles (it cleans up, then exits 128 + the signal's number)."""


def _signalled(code: int | None) -> bool:
    """Whether an exit code is a signal's: killed by it (negative), or a replica that handled it (130, 143, 129)."""
    return code is not None and (code < 0 or code - 128 in STOPPING)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


LOG_TAIL_BYTES = 1 << 16
"""How much of a replica's stderr is read for its last line: a replica that printed megabytes is not read whole."""


def _halted(pid: int) -> bool:
    """Whether process `pid` is stopped by a signal (its state in /proc is `T`); False where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[:1] == [b"T"]
    except (OSError, IndexError):
        return False


def _cause(w: Worker) -> str:
    code = w.proc.returncode
    if code < 0:
        return f"(pid {w.proc.pid}) was killed by {_signal_name(-code)}"
    if code - 128 in STOPPING:
        return f"(pid {w.proc.pid}) was stopped by {_signal_name(code - 128)} (exit code {code})"
    tail = ""
    if w.log is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: no os.pread here
            fd = w.log.fileno()
            size = os.fstat(fd).st_size
            end = os.pread(fd, min(size, LOG_TAIL_BYTES), max(0, size - LOG_TAIL_BYTES))  # offset left as it is
            lines = [line for line in end.decode(errors="replace").splitlines() if line.strip()]
            tail = f": {lines[-1].strip()[:300]}" if lines else ""
    return f"(pid {w.proc.pid}) exited with code {code}{tail}"


def _last_checkpoint(out: Path) -> str:
    from lockstep.checkpoint import checkpoints, step_of

    found = checkpoints(out / "checkpoints")
    if not found:
        return " (no checkpoint had been written)"
    return f"; the last checkpoint, step {step_of(found[-1])}, is in {out / 'checkpoints'} (continue with --resume)"


def _stop(workers: list[Worker]) -> None:
    """Terminate the workers still running (SIGTERM, then SIGKILL after GRACE_S)."""
    alive = [w for w in workers if w.proc.poll() is None]
    for w in alive:
        with contextlib.suppress(OSError):
            w.proc.terminate()
            if hasattr(signal, "SIGCONT"):  # a stopped replica acts on SIGTERM (cleans up) once continued
                w.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + GRACE_S
    for w in alive:
        try:
            w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                w.proc.kill()
            w.proc.wait()
