"""Data parallelism on TensorFlow: `tf.distribute.MirroredStrategy` over N logical CPU devices in one process
(docs/distributed.md; the semantics: docs/spec/v1-semantics.md, "Data parallelism").

The model, its optimizer and their variables are created under the strategy (mirrored variables, one copy per
replica). A step is two compiled functions. The first: `strategy.run` gives replica r its shard of the global
batch (and of the global dropout masks) and takes the gradient of the *sum* of its loss terms divided by the
global batch's count M (1 for `sum`): Σ_r of these is the global loss, whatever the shards' sizes (the loss is
built with Keras's `sum` reduction: Keras scales a `mean` by 1/N under a strategy, right for equal shards
only). The replica context's native `all_reduce` sums the gradients; the global norm, the non-finite check,
clipping and coupled L2 act on that sum, identical on every replica. The second, only for a finite step:
the optimizer's native `apply` in the replica context, as in Keras's fit; Keras sums what the replicas pass,
so replica 0 passes the gradient and the others zeros, and the sum is the gradient exactly. Batch norm:
`local` is Keras's per-replica statistics with the running statistics created with aggregation MEAN (the
replicas' updates averaged: layers/batch_norm.py); `sync` is Keras's own `synchronized=True` (an all-reduce
of the sums, E[x²] − E[x]²).

Logical devices can only be configured before TensorFlow initializes its runtime, once per process:
`lockstep run --backend tensorflow --replicas N` configures them first thing; a driver (the conformance
suite, a test) in a process where TensorFlow already runs uses `TFDataParallelDriver`, the same session in a
worker process. Several workers: where TF_CONFIG is set, each process is one worker of a
MultiWorkerMirroredStrategy with one replica, the same session code (every worker builds the whole global batch
from the recipe and takes its shard by its global replica id); `join_workers` gives the runner its agreement
over the strategy's collectives (docs/distributed.md).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lockstep.adapters import replica_wire
from lockstep.adapters.base import Arrays, NonFiniteError, Session, StepResult, UnsupportedConstruct
from lockstep.adapters.data_parallel import WORKER_TIMEOUT_VARIABLE, worker_timeout
from lockstep.reference.data_parallel import shard_bounds
from lockstep.spec.wording import digits

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from lockstep.spec.documents import Model, Recipe

MAX_REPLICAS_ENV = "LOCKSTEP_TF_LOGICAL_CPUS"
"""Logical CPU devices to create (default: the replicas asked for): a driver worker creates the most it serves."""


def configure_logical_cpus(replicas: int) -> None:
    """Split the CPU into at least `replicas` logical devices, before TensorFlow initializes; an
    UnsupportedConstruct (naming what to do) when TensorFlow already runs with fewer."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu) or []
    if len(current) >= replicas:
        return
    raw = os.environ.get(MAX_REPLICAS_ENV, "").strip()  # the driver's, for its worker: anything else is not a count
    want = max(replicas, int(raw) if digits(raw) else 0)
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * want)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        raise UnsupportedConstruct("distribution", f"TensorFlow already runs in this process with {have} logical "
                                   f"CPU device{'s' * (have != 1)}; {replicas} replicas need {replicas}, configured "
                                   "before TensorFlow starts (a new process)") from None


def _session_class() -> type:
    """TFDataParallelSession, defined on first use (it subclasses TFSession, which imports TensorFlow)."""
    global _SESSION
    if _SESSION is None:
        _SESSION = _define()
    return _SESSION


_SESSION: type | None = None


def TFDataParallelSession(model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None,
                          replicas: int, batch_norm: str | None = None) -> Session:
    """`replicas` replicas of `model` under MirroredStrategy in this process, or, where TF_CONFIG is set, this
    worker's replica under MultiWorkerMirroredStrategy (see the module docstring)."""
    if device != "cpu":
        raise UnsupportedConstruct(f"device:{device}", "TensorFlow data parallelism runs on logical CPU devices "
                                   "here (MirroredStrategy over GPUs is not wired in this release)")
    if not multi_worker():
        configure_logical_cpus(replicas)
    return _session_class()(model, dtype=dtype, recipe=recipe, replicas=replicas, batch_norm=batch_norm)


_STRATEGIES: dict[int | str, Any] = {}
COLLECTIVE_TIMEOUT_ENV = WORKER_TIMEOUT_VARIABLE
"""How long a worker waits in one collective (the first one waits for every worker to start) before it gives
the run up as lost: a dead worker ends the others' runs, exit 1, instead of hanging them."""
MULTI_WORKER = "multi-worker"


def multi_worker() -> bool:
    """Whether this process is one of several TensorFlow workers (TF_CONFIG set): then it holds one replica and
    splits no logical devices."""
    return bool(os.environ.get("TF_CONFIG", "").strip())


def _strategy(replicas: int) -> Any:
    """One strategy per replica count and process, shared by every session: each strategy numbers its
    collectives from the same start, and TensorFlow refuses a second strategy's all-reduce of another shape
    under a number the first one used ("Shape mismatch in the collective instance"). Where TF_CONFIG is set,
    the process's one MultiWorkerMirroredStrategy (one replica per worker)."""
    import tensorflow as tf

    if multi_worker():
        strategy = _worker_strategy()
        if strategy.num_replicas_in_sync != replicas:
            raise UnsupportedConstruct("distribution", f"TF_CONFIG names {strategy.num_replicas_in_sync} workers "
                                       f"(one replica each), not {replicas}")
        return strategy
    if replicas not in _STRATEGIES:
        _STRATEGIES[replicas] = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    return _STRATEGIES[replicas]


def _worker_strategy() -> Any:
    """This worker's MultiWorkerMirroredStrategy (TF_CONFIG), made before any other TensorFlow operation runs in
    the process, as TensorFlow requires: `join_workers` makes it first thing."""
    import tensorflow as tf

    if MULTI_WORKER not in _STRATEGIES:
        tf.get_logger().setLevel("ERROR")  # "using CollectiveAllReduceStrategy eagerly" for the few eager collectives
        timeout = float(worker_timeout())
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        watchdog = _watchdog(timeout)
        try:
            _STRATEGIES[MULTI_WORKER] = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        finally:
            watchdog.kill()
            watchdog.wait()
    return _STRATEGIES[MULTI_WORKER]


def outlive_first(code: int) -> None:
    """A worker other than worker 0 that has trained to the end waits, before its process ends, until worker 0's
    has (its address refuses connections), at most the collective timeout. TensorFlow's collectives pull data from
    the peer's server: a worker that left once its own part of the last collective was done closed the socket that
    worker 0 was still reading ("lost contact with the other replicas (UnavailableError: Graph execution error)",
    exit 1, on a run that had trained; TensorFlow's issue #58434). Worker 0 ends last of none: it writes the run."""
    import json
    import socket
    import time

    try:
        config = json.loads(os.environ.get("TF_CONFIG", "{}"))
        index, first = int(config["task"]["index"]), str(config["cluster"]["worker"][0])
        host, port = first.rsplit(":", 1)
        address = (host.strip("[]"), int(port))
    except (ValueError, KeyError, IndexError, TypeError):
        return
    if code != 0 or index == 0:  # a failed worker leaves at once: that is how the others learn of it
        return
    deadline = time.monotonic() + float(worker_timeout())
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(address, timeout=1.0):
                pass
        except OSError:  # refused (worker 0 has ended) or unreachable: nothing left to serve
            return
        time.sleep(0.05)


_WATCHDOG = """import os, sys, time
parent, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
time.sleep(timeout)
if os.getppid() == parent:
    sys.stderr.write(message + "\\n")
    sys.stderr.flush()
    os.kill(parent, 9)
"""


def _watchdog(timeout: float) -> Any:
    """A process that ends this one, saying why, unless killed within `timeout`: the strategy waits in
    TensorFlow's native start-up for every worker of TF_CONFIG, with no deadline of its own, holding the
    interpreter (no thread or signal handler of ours runs), so a worker that died before joining hung the others
    for good (the collective timeout covers only collectives)."""
    import json
    import subprocess
    import sys

    try:
        rank = int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))
    except (ValueError, TypeError, AttributeError):
        rank = 0
    message = (f"lockstep run: replica {rank}: lost contact with the other replicas (not every worker of TF_CONFIG "
               f"started within {timeout:g} s; {COLLECTIVE_TIMEOUT_ENV}); stopped")
    return subprocess.Popen([sys.executable, "-I", "-S", "-c", _WATCHDOG, str(os.getpid()), str(timeout), message],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def _workers() -> list[str]:
    """TF_CONFIG's worker addresses, as written (for a message)."""
    import json

    try:
        return [str(w) for w in json.loads(os.environ.get("TF_CONFIG", "{}"))["cluster"]["worker"]]
    except (ValueError, KeyError, TypeError):
        return []


def join_workers(workers: int) -> tuple[Callable[[Any], Any], Callable[[int], int], dict[str, Any]]:
    """The workers' agreement for the runner, over the strategy's own collectives (no channel of ours): `share`
    (worker 0's object on every worker, pickled: the workers are one trusted job) and `agree` (the largest of
    every worker's code), and what report.json records."""
    import tensorflow as tf

    try:
        strategy = _worker_strategy()
    except (tf.errors.OpError, ValueError) as exc:  # a worker address in use or without a port: TensorFlow's own
        # errors were an internal error, exit 3 ("Could not start gRPC server", "Could not parse port")
        text = " ".join(str(exc).split())[:200]
        raise RuntimeError(f"TF_CONFIG's workers ({', '.join(_workers())}): {type(exc).__name__}: {text}") from None
    if strategy.num_replicas_in_sync != workers:
        raise RuntimeError(f"TF_CONFIG names {workers} workers, but the strategy has {strategy.num_replicas_in_sync} "
                           "replicas (one device per worker is supported)")

    def gather(values: np.ndarray) -> np.ndarray:
        """Every worker's 1-D int32 `values` (one length on every worker), concatenated in worker order."""
        def on_replica(v: Any) -> Any:
            return tf.distribute.get_replica_context().all_gather(v, axis=0)
        out = strategy.run(on_replica, args=(tf.constant(values, tf.int32),))
        return strategy.experimental_local_results(out)[0].numpy()

    def agree(code: int) -> int:
        return int(gather(np.array([int(code)])).max())

    def share(obj: Any) -> Any:
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8).astype(np.int32)
        lengths = gather(np.array([len(data)]))
        padded = np.zeros(int(lengths.max()), np.int32)
        padded[:len(data)] = data
        first = gather(padded)[:int(lengths[0])]
        return pickle.loads(first.astype(np.uint8).tobytes())

    resolver = strategy.cluster_resolver
    return share, agree, {"tensorflow_strategy": "MultiWorkerMirroredStrategy",
                          "workers": list(resolver.cluster_spec().as_dict().get("worker", []))}


def _define() -> type:
    import tensorflow as tf

    from lockstep.adapters.tensorflow.clipping import clip_and_regularize, global_norm
    from lockstep.adapters.tensorflow.session import TFSession

    class _TFDataParallelSession(TFSession):
        """The TFSession protocol over MirroredStrategy replicas; every method takes the global batch."""

        can_run_eagerly = False  # its replicated steps are tf.functions of their own: it always runs compiled

        def __init__(self, model: Model, *, dtype: str, recipe: Recipe | None, replicas: int,
                     batch_norm: str | None) -> None:
            self.strategy = _strategy(replicas)
            with self.strategy.scope():
                super().__init__(model, dtype=dtype, device="cpu", recipe=recipe)
            self.replicas, self.batch_norm = replicas, batch_norm
            self.distribution = {"strategy": "data_parallel", "replicas": replicas, "batch_norm": batch_norm}
            self.synchronized = batch_norm == "sync" and replicas > 1
            for step in self.net.steps:
                if step.type == "batch_norm":
                    step.layer.synchronized = self.synchronized
            self.reduction = recipe.loss.reduction if recipe is not None else "mean"
            if recipe is not None:  # each replica sums its loss terms (Keras scales a `mean` by 1/N under a strategy)
                from lockstep.adapters.tensorflow import losses
                from lockstep.reference.representable import ELEMENT_LOSSES

                self.sum_loss_fn = losses.build(recipe.loss.model_copy(update={"reduction": "sum"}), dtype)
                out = self.net.graph.output_shapes()[0]
                self.terms_per_sample = int(np.prod(out if recipe.loss.type in ELEMENT_LOSSES else out[:-1]))
            self._last: list[tuple[int, int]] = []
            self._dp_step: Any = None

        def batch_norm_note(self) -> str:
            return "native: keras BatchNormalization(synchronized=True) under MirroredStrategy"

        def last_shards(self) -> list[tuple[int, int]]:
            return list(self._last)

        # ----------------------------------------------------------------------------- per replica
        def _distribute(self, x: np.ndarray | Arrays, y: np.ndarray, masks: Arrays | None) -> tuple:
            n = len(y)
            bounds = shard_bounds(n, self.replicas)
            self._last = list(bounds)
            # the global loss is Σ_r (sum of replica r's terms) / M, M the global batch's terms (`sum`: / 1)
            w = tf.constant(1.0 / (n * self.terms_per_sample) if self.reduction == "mean" else 1.0, tf.float64)
            # every replica gets the whole batch and slices its shard with tensors: its trace then has no static
            # batch size, so every replica traces the same graph (with shards of 3 and 2 samples TensorFlow would
            # trace two, whose gradients of synchronized batch norm all-reduce in different orders: a deadlock
            # reported as "Values to regroup had different lengths")
            args = [*self._input_args(x), self._target_arg(y), *self._mask_args(masks)]
            shards = [(tf.constant(lo, tf.int64), tf.constant(hi - lo, tf.int64)) for lo, hi in bounds]
            return self.strategy.experimental_distribute_values_from_function(
                lambda ctx: (*args, *shards[ctx.replica_id_in_sync_group], w))

        def _replica_gradients(self, *args):
            """On one replica: its shard's weighted loss and gradient, summed over the replicas."""
            *batch, lo, size, weight = args
            batch = [tf.ensure_shape(tf.slice(a, tf.concat([[lo], tf.zeros([len(a.shape) - 1], tf.int64)], 0),
                                              tf.concat([[size], -tf.ones([len(a.shape) - 1], tf.int64)], 0)),
                                     [None, *a.shape[1:]])  # a tensor size loses every static dimension: Keras's
                     for a in batch]  # batch norm on a sequence [T, C] needs T's (sweep M, 2026-12-06)
            inputs, y, masks = self._unpack(tuple(batch), True)
            context = tf.distribute.get_replica_context()
            with tf.GradientTape() as tape:
                local = self.sum_loss_fn(self.net(inputs, masks, training=True), y)
                scaled = local * tf.cast(weight, local.dtype)
            grads = tape.gradient(scaled, self.net.trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads = [tf.convert_to_tensor(g) for g in grads]
            total, *grads = context.all_reduce(tf.distribute.ReduceOp.SUM, [scaled, *grads])
            return [total, *grads]

        def _replica_step(self, *args):
            total, *grads = self._replica_gradients(*args)
            norm = global_norm(grads)
            finite = tf.math.logical_and(tf.math.is_finite(total), tf.math.is_finite(norm))
            gs = clip_and_regularize(grads, self.clip, norm, self.l2, self.net.trainable)
            return [total, norm, finite, *gs]

        def _graph_dp_step(self, per_replica):
            """Gradients summed, checked, clipped and regularized on every replica; nothing applied yet."""
            total, norm, finite, *gs = self.strategy.run(self._replica_step, args=per_replica)
            lr = self.schedule(self.opt.iterations)
            first = self.strategy.experimental_local_results
            f64 = tf.float64
            flags = tf.stack([tf.cast(first(total)[0], f64), tf.cast(first(norm)[0], f64), tf.cast(lr, f64),
                              tf.cast(first(finite)[0], f64)])
            return flags, gs

        def _replica_apply(self, *gs):
            """The optimizer's native `apply` in the replica context, as in Keras's own fit: Keras sums what every
            replica passes, so replica 0 passes the gradient (identical on every replica) and the others zeros:
            the sum is the gradient exactly (gradients pre-divided by N would not be, for N = 3)."""
            context = tf.distribute.get_replica_context()
            own = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), gs[0].dtype) if gs else None
            self.opt.apply([g * tf.cast(own, g.dtype) for g in gs], self.net.trainable)
            return tf.constant(True)

        def _graph_dp_apply(self, gs):
            return self.strategy.run(self._replica_apply, args=tuple(gs))

        def _graph_dp_gradients(self, per_replica):
            out = self.strategy.run(self._replica_gradients, args=per_replica)
            return [self.strategy.experimental_local_results(o)[0] for o in out]

        # ---------------------------------------------------------------------------------- protocol
        def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                               ) -> tuple[float, Arrays]:
            self._need_recipe()
            fn = self._functions.get("dp_gradients")
            if fn is None:
                fn = self._functions["dp_gradients"] = tf.function(self._graph_dp_gradients, reduce_retracing=True,
                                                                   autograph=False)
            total, *grads = fn(self._distribute(x, y, masks))
            by_var = {id(v): g.numpy() for v, g in zip(self.net.trainable, grads, strict=True)}
            return float(total.numpy()), {name: slot.view(by_var[id(slot.variable)])
                                          for name, slot in self.net.slots.items()}

        def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
            self._need_recipe()
            if self.opt is None:
                value, _ = self.loss_and_gradients(x, y, masks=masks)
                if not np.isfinite(value):
                    raise NonFiniteError("loss")
                lr = float(self.schedule(self.step).numpy())
                self.step += 1
                return StepResult(value, lr, 0.0)
            fn = self._functions.get("dp_step")
            if fn is None:
                fn = self._functions["dp_step"] = tf.function(self._graph_dp_step, reduce_retracing=True,
                                                              autograph=False)
                self._functions["dp_apply"] = tf.function(self._graph_dp_apply, reduce_retracing=True,
                                                          autograph=False)
            saved = [tf.identity(b.value) for b in self.net.buffers]
            flags, gs = fn(self._distribute(x, y, masks))
            loss, norm, lr, ok = flags.numpy()
            if not ok:
                for b, v in zip(self.net.buffers, saved, strict=True):  # nothing changes on a failed step
                    b.assign(v)
                if not np.isfinite(loss):
                    raise NonFiniteError("loss")
                _, grads = self.loss_and_gradients(x, y, masks=masks)
                for b, v in zip(self.net.buffers, saved, strict=True):
                    b.assign(v)
                bad = next((k for k, g in grads.items() if not np.all(np.isfinite(g))), "a parameter")
                raise NonFiniteError(f"gradient of {bad}")
            self._functions["dp_apply"](gs)
            self.step += 1
            return StepResult(float(loss), float(lr), float(norm))

    return _TFDataParallelSession


# ---------------------------------------------------------------------------------- driver: a worker
def _serve(conn: Connection, most: int) -> None:
    """A driver's worker process: TensorFlow with `most` logical CPUs, serving one session at a time."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ[MAX_REPLICAS_ENV] = str(most)
    try:
        configure_logical_cpus(most)
    except Exception as exc:
        replica_wire.answer(conn, ("error", f"{type(exc).__name__}: {exc}"))
        return
    if replica_wire.answer(conn, ("ok", None)):
        replica_wire.serve(conn, lambda payload: TFDataParallelSession(**payload))


class _Worker:
    """One spawned process hosting TensorFlow sessions of one replica count for a driver (started once, reused).

    One count per process: TensorFlow's collectives key their groups by creation order, and a process that ran
    a strategy over 2 devices fails one over 3 ("joining a group with size 3, but that group has size 2")."""

    workers: ClassVar[dict[int, _Worker]] = {}

    def __init__(self, most: int) -> None:
        import atexit
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.most = most
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, most), daemon=True, name="lockstep-tf-replicas")
        self.proc.start()
        child.close()
        self.reply()
        atexit.register(self.close)

    @classmethod
    def get(cls, replicas: int) -> _Worker:
        w = cls.workers.get(replicas)
        if w is None or not w.proc.is_alive():
            if w is not None:
                w.close()
            w = cls.workers[replicas] = _Worker(replicas)
        return w

    def reply(self) -> Any:
        try:
            answer = self.conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"the TensorFlow replica process died (exit code {self.proc.exitcode})") from None
        return replica_wire.value(answer, "TensorFlow replicas")

    def ask(self, op: str, payload: Any) -> Any:
        self.conn.send((op, payload))
        return self.reply()

    def close(self) -> None:
        try:
            self.conn.send(("close", None))
        except (OSError, ValueError):
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
        if _Worker.workers.get(self.most) is self:
            del _Worker.workers[self.most]


class TFDataParallelDriver(Session):
    """TFDataParallelSession in a worker process, driven as one session (for callers in which TensorFlow may
    already run with one logical CPU: the conformance suite, tests, benchmarks)."""

    def __init__(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None,
                 replicas: int, batch_norm: str | None = None) -> None:
        self.worker = _Worker.get(replicas)
        self.replicas, self.batch_norm = replicas, batch_norm
        self.distribution = {"strategy": "data_parallel", "replicas": replicas, "batch_norm": batch_norm}
        self.worker.ask("build", {"model": model, "dtype": dtype, "device": device, "recipe": recipe,
                                  "replicas": replicas, "batch_norm": batch_norm})

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.worker.ask("call", (method, args, kwargs))

    def set_parameters(self, params: Arrays) -> None:
        self._call("set_parameters", params)

    def get_parameters(self) -> Arrays:
        return self._call("get_parameters")

    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        return self._call("forward", x, training=training, masks=masks)

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        return self._call("loss_and_gradients", x, y, masks=masks)

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        return self._call("train_step", x, y, masks=masks)

    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        return self._call("get_optimizer_state")

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        self._call("set_optimizer_state", step, state)

    def last_shards(self) -> list[tuple[int, int]]:
        return self._call("last_shards")
