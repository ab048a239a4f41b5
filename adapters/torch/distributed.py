"""Data parallelism on torch: DistributedDataParallel over a torch.distributed process group, one process per
replica (docs/distributed.md; the semantics: docs/spec/v1-semantics.md, "Data parallelism").

A replica is a `TorchReplicaSession`: the ordinary `TorchSession` (native modules, loss, optimizer,
scheduler, clipping) whose module is wrapped in `torch.nn.parallel.DistributedDataParallel`; every step
it receives the *global* batch and the global dropout masks, takes its own shard (spec/distribution.py),
and lets DDP average the gradients (its all-reduce: gloo on the CPU, NCCL on CUDA). Nothing is
all-reduced by hand; DDP's communication hook is `reduce_each_gradient` (one native all_reduce per gradient,
not per bucket), so that the order of additions does not depend on DDP's bucket layout, which DDP rebuilds
after a process's first iteration and a resumed process would otherwise sum in another order than the
uninterrupted run did. What the session adds to a torch script are the standard's rules:
- each replica's loss is scaled by `N·w_r` before backward (`w_r = n_r/n` for `mean`, 1 for `sum`), so
  DDP's average is the gradient of the global batch also when the last batch's shards are uneven; the
  reported loss is `Σ_r w_r L_r` (one all_reduce of a scalar);
- `batch_norm: sync` on CUDA is `nn.SyncBatchNorm` (native). On the CPU `nn.SyncBatchNorm` refuses to run
  ("SyncBatchNorm expected input tensor to be on GPU": its kernels batch_norm_stats,
  batch_norm_gather_stats_with_counts and batch_norm_backward_reduce exist for CUDA only; pytorch#78078,
  which would have added CPU ones, was closed unmerged), so there `AllReduceBatchNorm` writes the batch
  norm in torch ops over the global statistics, summed by the native differentiable all_reduce
  (`torch.distributed.nn.functional.all_reduce`, whose backward all-reduces the gradient): provenance
  "written", declared as such;
- `batch_norm: local`: DDP(broadcast_buffers=False) leaves each replica's running statistics its own; after
  every step they are averaged over the replicas (all_reduce SUM, then / N), the standard's rule.

`TorchDataParallelSession` is the same replicas driven from one caller (conformance, `lockstep compare`,
benchmarks): a pool of spawned worker processes, one per replica, each serving a TorchReplicaSession.
`lockstep run --backend torch --replicas N` and `torchrun` use TorchReplicaSession directly (SPMD:
lockstep/distributed.py).
"""

from __future__ import annotations

import atexit
import datetime
import os
import socket
import typing
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from lockstep.adapters import replica_wire
from lockstep.adapters.base import Arrays, NonFiniteError, Session, StepResult
from lockstep.adapters.data_parallel import DEFAULT_TIMEOUT_S, collective_backend, collective_timeout
from lockstep.adapters.torch.session import TorchSession, protocol_in_own_modes
from lockstep.reference.data_parallel import shard_bounds, shard_weights, take
from lockstep.spec.wording import digits

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from lockstep.spec.documents import Model, Recipe

def _timeout() -> datetime.timedelta:
    """How long a collective waits for the other replicas before it fails (a dead or hung peer); the launcher has
    refused a bad LOCKSTEP_DIST_TIMEOUT before any replica started, so a bad one here falls back to the default."""
    try:
        return datetime.timedelta(seconds=collective_timeout())
    except ValueError:
        return datetime.timedelta(seconds=DEFAULT_TIMEOUT_S)


TIMEOUT = _timeout()

def _no_buffer_sync() -> dict[str, bool]:
    """DDP's option for "never broadcast rank 0's buffers before a forward" (buffers are synchronized by the
    standard's rule instead): `forward_sync_buffers=False` since torch 2.13, `broadcast_buffers=False` before."""
    import inspect

    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


_NO_BUFFER_SYNC = _no_buffer_sync()

SYNC_NOTE_CPU = ("written: batch-norm statistics over the global batch in torch ops, summed by torch's "
                 "differentiable all_reduce (nn.SyncBatchNorm runs on CUDA only)")
SYNC_NOTE_CUDA = "native: nn.SyncBatchNorm"


# --------------------------------------------------------------------------------------- process group
def backend_for(device: str) -> str:
    """The collective backend of a device: NCCL for CUDA, gloo for the CPU; LOCKSTEP_DIST_BACKEND overrides it
    (gloo also runs CUDA tensors, e.g. several replicas sharing one GPU, which NCCL refuses). The launcher refused
    a bad one before any replica started, so a bad one here falls back to the device's own."""
    try:
        chosen = collective_backend()
    except ValueError:
        chosen = None
    return chosen or ("nccl" if device.startswith("cuda") else "gloo")


def init_process_group(rank: int, size: int, device: str, init_method: str = "env://",
                       backend: str | None = None) -> dict[str, Any]:
    """Join (or check) the default process group; returns what report.json records about it.

    `env://` reads MASTER_ADDR and MASTER_PORT (set by torchrun, or by `lockstep run`'s launcher)."""
    backend = backend or backend_for(device)
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=size, timeout=TIMEOUT)
    elif dist.get_world_size() != size or dist.get_rank() != rank:
        raise RuntimeError(f"a process group of {dist.get_world_size()} (rank {dist.get_rank()}) is already "
                           f"initialized; this run needs {size} (rank {rank})")
    return {"backend": dist.get_backend(), "world_size": dist.get_world_size(), "rank": dist.get_rank(),
            "init_method": init_method.split("://")[0] + "://", "timeout_s": TIMEOUT.total_seconds()}


def share(obj: Any, group: Any = None) -> Any:
    """Rank 0's `obj` on every rank (broadcast_object_list over the CPU group)."""
    box = [obj if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0, group=group)
    return box[0]


# ---------------------------------------------------------------------------------------- batch norm
def differentiable_sum(t: torch.Tensor, group: Any) -> torch.Tensor:
    """Σ over the replicas of `t`, differentiable: the backward pass sums the gradient over the replicas too.

    torch's functional all_reduce where it is differentiable (`_functional_collectives`, which the deprecation of
    torch.distributed.nn.functional.all_reduce points to), else that older differentiable one."""
    from torch.distributed import _functional_collectives as fc

    if hasattr(fc, "all_reduce_backward"):
        return fc.wait_tensor(fc.all_reduce(t, "sum", group))
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(t, group=group)


class AllReduceBatchNorm(nn.Module):
    """Batch norm over the global batch on the CPU: μ = Σx / M, σ² = Σ(x − μ)² / M with the sums and M
    all-reduced (autograd-aware, so the gradient flows through the other replicas' statistics exactly as in
    one process), then the standard's normalization and running update (unbiased: σ² M/(M − 1)). Eval mode
    is the native F.batch_norm on the running statistics. It takes the tensors of the module it replaces,
    so canonical slots, the optimizer and checkpoints see the same parameters and buffers."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, group: Any = None) -> None:
        super().__init__()
        self.weight, self.bias = bn.weight, bn.bias
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        self.eps, self.momentum, self.group = bn.eps, bn.momentum, group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        group = self.group or dist.group.WORLD
        axes = [0, *range(2, x.dim())]
        shape = [1, x.shape[1], *([1] * (x.dim() - 2))]
        count = torch.full((1,), float(x.numel() // x.shape[1]), dtype=x.dtype, device=x.device)
        sums = differentiable_sum(torch.cat([x.sum(axes), count]), group)
        m = sums[-1]
        mean = sums[:-1] / m
        centred = x - mean.reshape(shape)
        var = differentiable_sum((centred * centred).sum(axes), group) / m
        y = centred * torch.rsqrt(var + self.eps).reshape(shape) * self.weight.reshape(shape) \
            + self.bias.reshape(shape)
        with torch.no_grad():
            rho = self.momentum
            self.running_mean.mul_(1.0 - rho).add_(mean.detach(), alpha=rho)
            self.running_var.mul_(1.0 - rho).add_(var.detach() * (m / (m - 1.0)), alpha=rho)
        return y


def _cuda_sync_norm(bn: nn.modules.batchnorm._BatchNorm, group: Any = None) -> nn.Module:
    """nn.SyncBatchNorm holding `bn`'s own tensors (native, CUDA)."""
    from lockstep.adapters.torch.layers.batch_norm import ContiguousGrad

    class StandardSyncBatchNorm(nn.SyncBatchNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return ContiguousGrad.apply(super().forward(x))

    sync = StandardSyncBatchNorm(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=True,
                                 track_running_stats=True, process_group=group, device=bn.weight.device,
                                 dtype=bn.weight.dtype)
    sync.weight, sync.bias = bn.weight, bn.bias
    sync.running_mean, sync.running_var = bn.running_mean, bn.running_var
    return sync


def synchronize_batch_norm(net: nn.Module, device: str, group: Any = None) -> int:
    """Replace every batch norm of `net` by its synchronized form (in place); how many were replaced."""
    found = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for name, module in found:
        parent_name, _, child = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        flat = type(module).__name__ == "FlatBatchNorm"  # [N, C, *spatial] of rank > 5 (layers/batch_norm.py)
        if device.startswith("cuda") and not flat:
            setattr(parent, child, _cuda_sync_norm(module, group))
        else:
            setattr(parent, child, AllReduceBatchNorm(module, group))
    return len(found)


# ---------------------------------------------------------------------------------- gradient reduction
def reduce_each_gradient(state: tuple[Any, int], bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """DDP's communication hook: the mean over the replicas of a bucket's gradients, one all_reduce per gradient.

    DDP's own hook all-reduces a bucket as one flat tensor, and a collective sums an element of it in an order
    that depends on its offset there (gloo's ring, from 3 replicas on). DDP lays its buckets out anew after the
    first iteration of a *process*, so a run resumed from a checkpoint took another order at its first step
    than the uninterrupted run had: not bit for bit (docs/distributed.md). A gradient's own all_reduce
    depends on its shape and the replica count only, whatever the bucket holds."""
    group, replicas = state
    flat = bucket.buffer()
    sizes = [g.numel() for g in bucket.gradients()]
    if sum(sizes) != flat.numel():  # a layout this hook does not know: the bucket whole, as DDP's own hook
        parts = [flat]
    else:
        parts = list(flat.split(sizes))
    works = [dist.all_reduce(part, group=group, async_op=True) for part in parts]
    done = torch.futures.collect_all([w.get_future() for w in works])
    return done.then(lambda _: flat.div_(replicas))


# DDP checks a hook's annotations as objects (this module's are strings: `from __future__ import annotations`)
reduce_each_gradient.__annotations__ = typing.get_type_hints(reduce_each_gradient)


# ------------------------------------------------------------------------------------------ a replica
@protocol_in_own_modes
class TorchReplicaSession(TorchSession):
    """One replica of a data-parallel run (this process's rank of the default process group).

    Every method takes what a one-process session takes, the *global* batch included: the replica trains on
    its own shard of it, and every replica ends each step holding the same parameters, buffers and optimizer
    state (what `get_parameters` and checkpoints see)."""

    def __init__(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None,
                 replicas: int, batch_norm: str | None = None, allow_tf32: bool | None = None,
                 group: Any = None) -> None:
        size = dist.get_world_size(group) if dist.is_initialized() else 0
        if size != replicas:
            raise RuntimeError(f"a torch replica needs a process group of {replicas}; "
                               f"{size or 'none'} is initialized")
        super().__init__(model, dtype=dtype, device=device, recipe=recipe, allow_tf32=allow_tf32)
        self.replicas, self.rank, self.pg = replicas, dist.get_rank(group), group
        self.batch_norm = batch_norm
        has_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.net.modules())
        self.statistics = "sync" if batch_norm == "sync" else "local"
        self.synchronized = has_norm and batch_norm == "sync" and replicas > 1
        if self.synchronized:
            synchronize_batch_norm(self.net, device, group)
        self.average_buffers = has_norm and not self.synchronized and replicas > 1
        ids = [self.device.index or 0] if self.device.type == "cuda" else None
        self.ddp = (nn.parallel.DistributedDataParallel(self.net, device_ids=ids, process_group=group,
                                                       **_NO_BUFFER_SYNC)
                    if self.params and replicas > 1 else None)
        if self.ddp is not None:
            self.ddp.register_comm_hook((group, replicas), reduce_each_gradient)
        self.reduction = recipe.loss.reduction if recipe is not None else "mean"
        self._last: tuple[int, int] = (0, 0)
        self.distribution = {"strategy": "data_parallel", "replicas": replicas, "batch_norm": batch_norm}

    def batch_norm_note(self) -> str:
        """How `sync` is realised on this device (report.json, certificates)."""
        return SYNC_NOTE_CUDA if self.device.type == "cuda" else SYNC_NOTE_CPU

    def _loss_backward(self, x: np.ndarray | Arrays, y: np.ndarray, masks: Arrays | None) -> torch.Tensor:
        n = len(y)
        bounds = shard_bounds(n, self.replicas)
        lo, hi = bounds[self.rank]
        self._last = (lo, hi)
        weight = shard_weights([b - a for a, b in bounds], n, self.reduction)[self.rank]
        self._mode(True, None if masks is None else {k: v[lo:hi] for k, v in masks.items()})
        out = (self.ddp or self.net)(*self._inputs(take(x, lo, hi)))
        local = self.loss_fn(out, self._target(y[lo:hi]))
        for p in self.params:
            p.grad = None
        if local.requires_grad:
            (local * (weight * self.replicas)).backward()  # DDP averages over the replicas: Σ_r w_r ∇L_r
        total = (local.detach() * weight).reshape(1).to(torch.float64)
        if self.replicas > 1:
            dist.all_reduce(total, group=self.pg)
        return total[0]

    def _average_buffers(self) -> None:
        if not self.average_buffers or not self.buffers:
            return
        with torch.no_grad():
            flat = torch.cat([b.reshape(-1) for b in self.buffers])
            dist.all_reduce(flat, group=self.pg)
            flat.div_(self.replicas)
            at = 0
            for b in self.buffers:
                b.copy_(flat[at:at + b.numel()].reshape(b.shape))
                at += b.numel()

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        out = super().loss_and_gradients(x, y, masks=masks)
        self._average_buffers()
        return out

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        result = super().train_step(x, y, masks=masks)
        self._average_buffers()
        return result

    def last_shards(self) -> list[tuple[int, int]]:
        """This replica's `[lo, hi)` of the last global batch (the driver gathers every replica's)."""
        return [self._last]


# ---------------------------------------------------------------------------------- driver: a pool
def free_port() -> int:
    """A TCP port free on the loopback interface right now (the rendezvous of a local process group)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def threads_per_replica(replicas: int) -> int:
    """Intra-op threads for each of `replicas` processes on this machine: OMP_NUM_THREADS if set, else the
    usable CPUs shared out (torchrun sets OMP_NUM_THREADS=1; oversubscribed pools only cost)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if digits(env) and int(env) > 0:
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(replicas, 1))


def _serve(rank: int, size: int, port: int, conn: Connection) -> None:
    """A pool worker: join the group (and one subgroup of the first n ranks for every smaller n), then run
    commands from the driver until told to stop."""
    try:
        torch.set_num_threads(threads_per_replica(size))
        init_process_group(rank, size, "cpu", f"tcp://127.0.0.1:{port}", backend="gloo")
        groups = {n: dist.new_group(list(range(n))) for n in range(1, size)}  # every rank creates every group
        groups[size] = None
    except Exception as exc:
        replica_wire.answer(conn, ("error", f"{type(exc).__name__}: {exc}"))
        return
    if replica_wire.answer(conn, ("ok", None)):
        replica_wire.serve(conn, lambda payload: TorchReplicaSession(**payload, group=groups[payload["replicas"]]))
    conn.close()
    os._exit(0)  # not through the interpreter's exit, where gloo's threads can abort the process


class ReplicaPool:
    """`size` spawned processes forming one gloo process group on this machine, serving TorchReplicaSessions
    of up to `size` replicas (n replicas are its first n ranks, in their own subgroup).

    Started once and reused (starting a process that imports torch costs seconds): `get(n)` returns a running
    pool of at least n; `close()` or the end of the interpreter stops them."""

    _pools: ClassVar[dict[int, ReplicaPool]] = {}

    def __init__(self, size: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        port = free_port()
        self.size = size
        self.conns: list[Connection] = []
        self.procs = []
        for rank in range(size):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(rank, size, port, child), daemon=True,
                               name=f"lockstep-replica-{rank}")
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        for rank in range(size):
            self._reply(rank)

    @classmethod
    def get(cls, size: int) -> ReplicaPool:
        """A running pool of at least `size` processes (smaller ones are stopped: one pool at a time)."""
        for pool in list(cls._pools.values()):
            if pool.size >= size and pool.alive():
                return pool
            pool.close()
        pool = cls._pools[size] = ReplicaPool(size)
        return pool

    def alive(self) -> bool:
        return all(p.is_alive() for p in self.procs)

    def _reply(self, rank: int) -> Any:
        try:
            answer = self.conns[rank].recv()
        except (EOFError, OSError):
            code = self.procs[rank].exitcode
            self.close()
            raise RuntimeError(f"replica {rank} of {self.size} died (exit code {code})") from None
        return replica_wire.value(answer, f"replica {rank}")

    def all(self, op: str, payload: Any, replicas: int | None = None) -> list[Any]:
        """Send one command to the first `replicas` ranks (default: all; they run it together) and return each
        one's answer."""
        n = self.size if replicas is None else replicas
        for conn in self.conns[:n]:
            conn.send((op, payload))
        answers, first_error = [], None
        for rank in range(n):
            try:
                answers.append(self._reply(rank))
            except (NonFiniteError, RuntimeError) as exc:  # read every answer before raising: keep the pipes aligned
                first_error = first_error or exc
                answers.append(None)
        if first_error is not None:
            raise first_error
        return answers

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("close", None))
            except (OSError, ValueError):
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        ReplicaPool._pools = {k: v for k, v in ReplicaPool._pools.items() if v is not self}


@atexit.register
def _close_pools() -> None:
    for pool in list(ReplicaPool._pools.values()):
        pool.close()


class TorchDataParallelSession(Session):
    """N torch replicas in N worker processes, driven as one session: every call runs on every replica and
    answers with replica 0's result (they hold the same state; `replica_parameters` shows each one's)."""

    def __init__(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None,
                 replicas: int, batch_norm: str | None = None) -> None:
        self.pool = ReplicaPool.get(replicas)  # gloo: on the CPU, or every replica on one GPU (`device`)
        self.replicas, self.batch_norm = replicas, batch_norm
        self.distribution = {"strategy": "data_parallel", "replicas": replicas, "batch_norm": batch_norm}
        self.pool.all("build", {"model": model, "dtype": dtype, "device": device, "recipe": recipe,
                                "replicas": replicas, "batch_norm": batch_norm}, replicas)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        return self.pool.all("call", (method, args, kwargs), self.replicas)

    def set_parameters(self, params: Arrays) -> None:
        self._call("set_parameters", params)

    def get_parameters(self) -> Arrays:
        return self._call("get_parameters")[0]

    def replica_parameters(self) -> list[Arrays]:
        """Every replica's parameters and buffers (they must be equal after every step)."""
        return self._call("get_parameters")

    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        return self._call("forward", x, training=training, masks=masks)[0]

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        return self._call("loss_and_gradients", x, y, masks=masks)[0]

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        return self._call("train_step", x, y, masks=masks)[0]

    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        return self._call("get_optimizer_state")[0]

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        self._call("set_optimizer_state", step, state)

    def last_shards(self) -> list[tuple[int, int]]:
        """Each replica's `[lo, hi)` of the last global batch, as the replica itself reports it."""
        return [shards[0] for shards in self._call("last_shards")]
