"""A spec model on TensorFlow: canonical parameters in and out, native forward, loss, gradients and step.

Each entry point is one `tf.function` with a fixed input signature (batch axis `None`), traced once:
the last, shorter batch of an epoch reuses the same graph instead of retracing. A training step is a
single compiled unit: forward in training mode, loss, gradients (densified), global norm, the
non-finite check, clipping, coupled L2 and the optimizer's `apply` (which evaluates the schedule at
its own `iterations`); on a non-finite loss or gradient the step applies nothing and restores the
batch-norm statistics the forward pass moved, inside the same graph. Python sees one small vector per
step (loss, norm, learning rate, ok), so a step costs one host synchronization, as `model.fit`'s does.
The session calls each entry point's ConcreteFunction directly with tensors (autograph off: nothing in
these graphs needs it), which skips tf.function's per-call dispatch.

A session told it will serve only a few calls (`expect_few_calls`: the conformance suite's generated cases, one
forward, one gradient or up to 8 steps each) runs the same entry points eagerly instead: the same Python, the
same Keras layers and optimizer, the same TensorFlow kernels, dispatched op by op, with nothing traced. Tracing
and a graph's first call cost about 0.1 s per entry point, more than such a case's whole run eagerly
(docs/adapters/tensorflow.md, "Eager for a few calls"). `execution` says which mode a session ran in.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from lockstep.adapters.base import (
    Arrays,
    NonFiniteError,
    Session,
    StepResult,
    TrainingState,
    UnsupportedConstruct,
    check_indices,
    embedding_index_limits,
)
from lockstep.adapters.tensorflow import losses, optimizers
from lockstep.adapters.tensorflow.clipping import clip_and_regularize, global_norm
from lockstep.adapters.tensorflow.model import TFModel, read, slot_groups
from lockstep.adapters.tensorflow.schedules import StandardSchedule
from lockstep.spec.losses import CLASS_INDEX_LOSSES

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

DTYPES = {"float32": tf.float32, "float64": tf.float64}

REWRITES = os.environ.get("LOCKSTEP_TF_GRAPH_REWRITES") == "1"
"""Whether TensorFlow's graph optimizer (grappler) rewrites the session's compiled functions. Off by default: the
graph then runs exactly the ops the adapter wrote (no fused kernels, no reordered arithmetic: what is certified is
what runs, op for op), and a function's first call, where grappler spends its time, costs 40 % to 9 % as much
(docs/adapters/tensorflow.md). LOCKSTEP_TF_GRAPH_REWRITES=1 turns grappler back on."""

COMPILE_ALWAYS = os.environ.get("LOCKSTEP_TF_COMPILE_ALWAYS") == "1"
"""LOCKSTEP_TF_COMPILE_ALWAYS=1: sessions ignore `expect_few_calls` and compile every entry point, so a certification
checks the compiled graphs at every level (slower: each generated case then traces its own functions)."""

EAGER = "eager"
COMPILED = "compiled"


@contextmanager
def plain_graphs() -> Iterator[None]:
    """Calls of compiled functions inside run without grappler's rewrites (unless REWRITES), for this thread only:
    the per-call options TensorFlow attaches to a function call, not the process-wide optimizer setting, so other
    TensorFlow code in the process keeps its own. A no-op inside a graph (tf.function) being traced."""
    if REWRITES or not tf.executing_eagerly():
        yield
        return
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    saved = ctx.function_call_options
    config = config_pb2.ConfigProto()
    if saved.config_proto_serialized:
        config.ParseFromString(saved.config_proto_serialized)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    ctx.function_call_options = context.FunctionCallOptions(executor_type=saved.executor_type, config_proto=config)
    try:
        yield
    finally:
        ctx.function_call_options = saved


def _plain(function: Callable) -> Callable:
    """`function` (a ConcreteFunction) called under `plain_graphs`."""

    def call(*args):
        with plain_graphs():
            return function(*args)

    return call


def device_name(device: str) -> str:
    """A Lockstep device ("cpu", "cuda", "cuda:1", "gpu:0") as a TensorFlow device string."""
    kind, _, index = device.lower().partition(":")
    if kind == "cpu":
        return "/CPU:0"
    if kind in ("cuda", "gpu"):
        return f"/GPU:{int(index or 0)}"
    raise ValueError(f"unknown device `{device}` (cpu, cuda, cuda:N)")


def configure_tf32(allow: bool | None = None) -> None:
    """TF32 is off (conformance: TensorFlow turns it on by default on Ampere and later GPUs);
    LOCKSTEP_ALLOW_TF32=1 (or allow=True) turns it on for users who want speed. A process-wide setting."""
    if allow is None:
        allow = os.environ.get("LOCKSTEP_ALLOW_TF32") == "1"
    tf.config.experimental.enable_tensor_float_32_execution(allow)


class TFSession(Session):
    """One spec model as Keras layers on one device, in float32 or float64 (per-layer dtype policies,
    never the global floatx), optionally with a recipe's loss, optimizer, schedule, clipping and L2."""

    can_run_eagerly = True  # whether `expect_few_calls` may switch this class's entry points to eager

    def __init__(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None,
                 allow_tf32: bool | None = None) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype} is not supported (float32, float64)")
        configure_tf32(allow_tf32)
        self.dtype = dtype
        self.np_dtype = np.dtype(dtype)
        self.device = device_name(device)
        with tf.device(self.device):
            self.net = TFModel(model, dtype)
        graph = self.net.graph
        self.int_inputs = {k for k, v in graph.input_dtypes.items() if v == "int64"}
        self.index_limits = embedding_index_limits(graph)  # Keras's take wraps a negative index to the table's end
        self.input_spec = {k: tf.TensorSpec((None, *s), tf.int64 if k in self.int_inputs else DTYPES[dtype])
                           for k, s in graph.input_shapes.items()}
        self.mask_spec = {k: tf.TensorSpec((None, *s), tf.bool) for k, s in self.net.dropout_shapes.items()}
        self.recipe = recipe
        self.step = 0
        self._opt: Any = None
        self._opt_pending = False  # a recipe's optimizer not built yet (`opt` builds it on first use)
        self._functions: dict[str, Any] = {}  # tf.function per entry point (tracing counts, tests)
        self._compiled: dict[str, Callable] = {}  # their concrete functions, called on every step
        self._io: _StateIO | None = None  # get_state/set_state's compiled transfers, made on first use
        self._version = 0  # bumped by everything that may change a variable (the state cache's key)
        self.eager = False  # entry points run op by op (`expect_few_calls`) instead of compiled
        if recipe is not None:
            out = tuple(graph.output_shapes()[0])
            self.class_index = recipe.loss.type in CLASS_INDEX_LOSSES
            self.target_shape = out[:-1] if self.class_index else out
            self.target_spec = tf.TensorSpec((None, *self.target_shape),
                                             tf.int64 if self.class_index else DTYPES[dtype])
            self.loss_fn = losses.build(recipe.loss, dtype)
            self.schedule = StandardSchedule(recipe.schedule, recipe.optimizer.learning_rate)
            self.l2 = recipe.regularization.l2
            self.clip = recipe.gradient_clipping
            if self.net.trainable:
                if recipe.optimizer.type not in optimizers.OPTIMIZERS:  # the same error as building it now
                    raise KeyError(f"no TensorFlow mapping for optimizer `{recipe.optimizer.type}`")
                self._opt_pending = True
                if tf.distribute.has_strategy():  # its variables belong to the strategy entered around us
                    _ = self.opt

    @property
    def opt(self) -> Any:
        """The recipe's Keras optimizer (None without a recipe or trainable parameters), built on first use: a
        session that only runs forward passes and gradients (conformance levels 1 and 2) never needs its state
        variables, and creating them is about 60 % of building such a session."""
        if self._opt_pending:
            self._opt_pending = False
            with tf.device(self.device):
                opt = optimizers.build(self.recipe.optimizer, self.schedule)  # type: ignore[union-attr]
                opt.build(self.net.trainable)
            self._opt = opt
        return self._opt

    # ------------------------------------------------------------------------------ conversion
    # Compiled functions take flat positional tensors, in this order: the model inputs (input_spec's
    # order), then the target, then the dropout keep-masks (mask_spec's order).
    def _input_args(self, x: np.ndarray | Arrays) -> list[tf.Tensor]:
        if not isinstance(x, dict):
            x = {self.net.input_names[0]: x}
        for k, limit in self.index_limits.items():
            check_indices(k, x[k], limit)
        return [tf.convert_to_tensor(np.asarray(x[k], dtype=np.int64 if k in self.int_inputs else self.np_dtype))
                for k in self.input_spec]

    def _target_arg(self, y: np.ndarray) -> tf.Tensor:
        y = np.asarray(y, dtype=np.int64 if self.class_index else self.np_dtype)
        return tf.convert_to_tensor(y.reshape((len(y), *self.target_shape)))

    def _mask_args(self, masks: Arrays | None) -> list[tf.Tensor]:
        if not self.mask_spec:
            return []
        missing = [k for k in self.mask_spec if not masks or k not in masks]
        if missing:
            raise ValueError(f"dropout {', '.join(missing)} in training needs the standard's keep-mask (masks=...)")
        return [tf.convert_to_tensor(np.asarray(masks[k], dtype=bool)) for k in self.mask_spec]

    def _unpack(self, args: tuple, target: bool, masks: bool = True) -> tuple[dict, Any, dict]:
        n = len(self.input_spec)
        inputs = dict(zip(self.input_spec, args[:n], strict=True))
        y = args[n] if target else None
        keep = dict(zip(self.mask_spec, args[n + int(target):], strict=True)) if masks else {}
        return inputs, y, keep

    # ------------------------------------------------------------------------------ execution mode
    def expect_few_calls(self) -> None:
        """Run the entry points eagerly from now on (unless LOCKSTEP_TF_COMPILE_ALWAYS=1): for a session that serves
        a few calls, tracing a graph costs more than running its ops one by one, and the ops are the same."""
        if self.can_run_eagerly and not COMPILE_ALWAYS and not self.eager:
            self.eager = True
            self._compiled.clear()
            self._functions.clear()
            self._io = None

    @property
    def execution(self) -> str:
        """`eager` (op by op, nothing traced) or `compiled` (a tf.function graph per entry point, grappler off)."""
        return EAGER if self.eager else COMPILED

    def _compile(self, name: str, fn: Callable, *, target: bool, masks: bool) -> Callable:
        """The concrete function of `fn` over (inputs, [target], [masks]), traced once on first use; in eager
        mode `fn` itself, which runs the same ops one by one.

        Calling the ConcreteFunction directly with tensors skips tf.function's per-call signature
        matching and cache lookup (a third of a small model's step time on a CPU)."""
        if name not in self._compiled and self.eager:
            self._compiled[name] = fn
        elif name not in self._compiled:
            specs = [*self.input_spec.values(), *([self.target_spec] if target else []),
                     *(self.mask_spec.values() if masks else [])]
            function = tf.function(fn, input_signature=specs, reduce_retracing=True, autograph=False)
            self._functions[name] = function
            self._compiled[name] = _plain(function.get_concrete_function())
        return self._compiled[name]

    # ------------------------------------------------------------------------------ graphs
    def _graph_eval(self, *args):
        inputs, _, _ = self._unpack(args, False, masks=False)
        with tf.device(self.device):
            return self.net(inputs, None, training=False)

    def _graph_train_forward(self, *args):
        inputs, _, masks = self._unpack(args, False)
        with tf.device(self.device):
            return self.net(inputs, masks, training=True)

    def _loss_grads(self, inputs, y, masks):
        with tf.GradientTape() as tape:
            loss = self.loss_fn(self.net(inputs, masks, training=True), y)
        grads = tape.gradient(loss, self.net.trainable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return loss, [tf.convert_to_tensor(g) for g in grads]  # embedding gradients arrive as IndexedSlices

    def _graph_loss_grads(self, *args):
        inputs, y, masks = self._unpack(args, True)
        with tf.device(self.device):
            loss, grads = self._loss_grads(inputs, y, masks)
            return [loss, *grads]

    def _graph_step(self, *args):
        inputs, y, masks = self._unpack(args, True)
        with tf.device(self.device):
            saved = [tf.identity(b.value) for b in self.net.buffers]
            lr = self.schedule(self.opt.iterations)  # this step's rate, before apply() advances iterations
            loss, grads = self._loss_grads(inputs, y, masks)
            norm = global_norm(grads)
            by_norm = self.clip is not None and self.clip.type == "global_norm"  # the clipping needs the norm itself

            def apply():
                gs = clip_and_regularize(grads, self.clip, norm, self.l2, self.net.trainable)
                with self.schedule.held(self.opt.iterations, lr):  # Keras asks for the rate again: this one
                    self.opt.apply(gs, self.net.trainable)
                return tf.constant(True)

            def rollback():
                for b, v in zip(self.net.buffers, saved, strict=True):
                    b.assign(v)
                return tf.constant(False)

            if self.eager:  # the same rule on the values at hand: ~20 ops fewer, each ~0.1 ms eagerly
                loss_v, norm_v, lr_v = float(loss.numpy()), float(norm.numpy()), float(lr.numpy())
                grads_ok = math.isfinite(norm_v) if by_norm else all(np.isfinite(g.numpy()).all() for g in grads)
                ok = math.isfinite(loss_v) and grads_ok
                if ok:
                    apply()
                else:
                    rollback()
                return np.array([loss_v, norm_v, lr_v, float(ok)])
            if by_norm:
                grads_ok = tf.math.is_finite(norm)
            else:  # each gradient finite: a float32 sum of squares overflows above ~1.8e19 on representable ones
                grads_ok = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads]) if grads else True
            finite = tf.math.logical_and(tf.math.is_finite(loss), grads_ok)
            ok = tf.cond(finite, apply, rollback)
            f64 = tf.float64
            return tf.stack([tf.cast(loss, f64), tf.cast(norm, f64), tf.cast(lr, f64), tf.cast(ok, f64)])

    # ------------------------------------------------------------------------------ protocol
    def set_parameters(self, params: Arrays) -> None:
        self._version += 1
        for group in (slot_groups(self.net.slots), slot_groups(self.net.buffer_slots)):
            for variable, members in group.values():
                native = read(variable)
                for name, slot in members:
                    if name not in params:
                        raise KeyError(f"missing parameter {name}")
                    try:
                        slot.write(native, params[name])
                    except ValueError as exc:
                        raise ValueError(f"`{name}`: {exc}") from None
                variable.assign(native)

    def get_parameters(self) -> Arrays:
        if self._io is not None:  # one compiled read instead of one per variable (`lockstep compare`'s drift)
            state = self._io.latest() or self._io.get()
            return {k: v.copy() for k, v in state.parameters.items()}
        out: Arrays = {}
        for slots in (self.net.slots, self.net.buffer_slots):
            for variable, members in slot_groups(slots).values():
                native = variable.numpy()
                out.update({name: slot.view(native) for name, slot in members})
        return out

    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        if training:
            fn = self._compile("train_forward", self._graph_train_forward, target=False, masks=True)
            out = fn(*self._input_args(x), *self._mask_args(masks))
        else:
            out = self._compile("eval", self._graph_eval, target=False, masks=False)(*self._input_args(x))
        return np.array(out.numpy(), dtype=np.float64)

    def _gradients(self, x: np.ndarray | Arrays, y: np.ndarray, masks: Arrays | None) -> tuple[float, Arrays]:
        fn = self._compile("loss_grads", self._graph_loss_grads, target=True, masks=True)
        loss, *grads = fn(*self._input_args(x), self._target_arg(y), *self._mask_args(masks))
        by_var = {id(v): g.numpy() for v, g in zip(self.net.trainable, grads, strict=True)}
        return float(loss.numpy()), {name: slot.view(by_var[id(slot.variable)])
                                     for name, slot in self.net.slots.items()}

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        self._need_recipe()
        return self._gradients(x, y, masks)

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        self._need_recipe()
        self._version += 1
        if self.opt is None:  # a parameter-free model still has a loss
            value, _ = self._gradients(x, y, masks)
            if not np.isfinite(value):
                raise NonFiniteError("loss")
            lr = float(self.schedule(self.step).numpy())
            self.step += 1
            return StepResult(value, lr, 0.0)
        fn = self._compile("step", self._graph_step, target=True, masks=True)
        loss, norm, lr, ok = np.asarray(fn(*self._input_args(x), self._target_arg(y), *self._mask_args(masks)))
        if not ok:
            raise NonFiniteError("loss" if not np.isfinite(loss) else f"gradient of {self._non_finite(x, y, masks)}")
        self.step += 1
        return StepResult(float(loss), float(lr), float(norm))

    def _non_finite(self, x: np.ndarray | Arrays, y: np.ndarray, masks: Arrays | None) -> str:
        """Which gradient was non-finite: recomputed (the step kept nothing), buffers restored after."""
        buffers = {k: s.view(s.variable.numpy()) for k, s in self.net.buffer_slots.items()}
        _, grads = self._gradients(x, y, masks)
        if buffers:
            self.set_parameters({**self.get_parameters(), **buffers})
        return next((name for name, g in grads.items() if not np.all(np.isfinite(g))), "a parameter")

    def _need_recipe(self) -> None:
        if self.recipe is None:
            raise RuntimeError("this session was built without a recipe: it can run forward only")

    def export(self, path: str | Path, *, format: str = "savedmodel") -> Path:
        """A TensorFlow SavedModel of the eval forward (signature `serving_default`: the model's named
        inputs, batch axis free, -> {"output": channels-first output}); TF Serving / TFLite take it."""
        if format != "savedmodel":
            raise UnsupportedConstruct(f"export:{format}", "the TensorFlow adapter exports format='savedmodel' "
                                                           "(no ONNX converter ships with it)")
        specs = [tf.TensorSpec(s.shape, s.dtype, name=k) for k, s in self.input_spec.items()]
        names = list(self.input_spec)

        def serve(*args):
            with tf.device(self.device):
                return {"output": self.net(dict(zip(names, args, strict=True)), None, training=False)}

        module = tf.Module()
        module.variables_ = [v.value for v in (*self.net.trainable, *self.net.buffers)]
        module.serve = tf.function(serve, input_signature=specs, autograph=False)
        out = Path(path)
        tf.saved_model.save(module, str(out), signatures={"serving_default": module.serve.get_concrete_function()})
        return out

    # ------------------------------------------------------------------------------ full training state
    def _state_io(self) -> _StateIO:
        if self._io is None:
            self._io = _StateIO(self)
        return self._io

    def get_state(self) -> TrainingState:
        """Every variable (parameters, buffers, optimizer state, `iterations`) in one graph call."""
        return self._state_io().get()

    def set_state(self, state: TrainingState) -> None:
        """Every variable assigned in one graph call; the step count is Keras's `iterations`, which the
        schedule and Adam's bias corrections read, so the next step is the one after `state`."""
        self._state_io().set(state)

    def step_from(self, state: TrainingState, x: np.ndarray | Arrays, y: np.ndarray, *,
                  masks: Arrays | None = None) -> tuple[StepResult, TrainingState]:
        """Load, step, read, put back, in ONE compiled call (`_compile_step_from`): `lockstep compare` judges every
        step this way, and four host round trips per judged step cost more than a small model's step itself.
        A non-finite step takes the unfused path below, which names the quantity; so does an eager session (no
        graph to fuse into: its ops run one by one either way)."""
        if self.eager or self.opt is None:
            return self._step_from_unfused(state, x, y, masks)
        io = self._state_io()
        fn = self._compiled.get("step_from") or self._compile_step_from(io)
        out = fn(*io._pack(state), *self._input_args(x), self._target_arg(y), *self._mask_args(masks))
        loss, norm, lr, ok = out[0].numpy()
        if not ok:
            return self._step_from_unfused(state, x, y, masks)
        return StepResult(float(loss), float(lr), float(norm)), io._unpack(out[1:])

    def _compile_step_from(self, io: _StateIO) -> Callable:
        """The fused step_from: the state's assignments, a call of the train step's own traced graph (not traced
        again: the step that is judged is the very graph `train_step` runs), the reads, this session's own values
        assigned back. Program order is execution order: TensorFlow orders the ops on one variable as written."""
        self._compile("step", self._graph_step, target=True, masks=True)
        step = self._functions["step"].get_concrete_function()
        variables = [g[0] for g in io.groups] + [self.opt.iterations]
        n = len(io.specs)

        def fused(*args):
            with tf.device(self.device):
                own = [tf.identity(v.value) for v in variables]
                io.set_all(*args[:n])
                stats = step(*args[n:])
                after = io.get_all()
                for v, value in zip(variables, own, strict=True):
                    v.assign(value)
                return [stats, *after]

        specs = [*io.specs, *self.input_spec.values(), self.target_spec, *self.mask_spec.values()]
        function = tf.function(fused, input_signature=specs, autograph=False)
        self._functions["step_from"] = function
        self._compiled["step_from"] = _plain(function.get_concrete_function())
        return self._compiled["step_from"]

    def _step_from_unfused(self, state: TrainingState, x: np.ndarray | Arrays, y: np.ndarray,
                           masks: Arrays | None) -> tuple[StepResult, TrainingState]:
        """Load, step, read, put back as separate calls (an eager session; a parameter-free model; a non-finite step,
        whose `train_step` names the quantity)."""
        io = self._state_io()
        own = io.latest() or io.get()
        io.set(state)
        try:
            result = self.train_step(x, y, masks=masks)
            return result, io.get()
        finally:
            io.set(own)

    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        out: dict[str, Arrays] = {}
        if self.opt is None:
            return self.step, out
        kind = self.recipe.optimizer.type
        for name, slot in self.net.slots.items():
            states = optimizers.state_variables(self.opt, kind, slot.variable)
            out[name] = {k: slot.view(v.numpy()) for k, v in states.items()}
        return self.step, out

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        self._version += 1
        self.step = int(step)
        if self.opt is None:
            return
        unknown = sorted(set(state) - set(self.net.slots))
        if unknown:
            raise KeyError(f"optimizer state for unknown parameters: {', '.join(unknown)}")
        self.opt.iterations.assign(self.step)
        kind = self.recipe.optimizer.type
        for variable, members in slot_groups(self.net.slots).values():
            states = optimizers.state_variables(self.opt, kind, variable)
            for canonical, state_var in states.items():
                native = read(state_var)
                for name, slot in members:
                    if canonical in state.get(name, {}):
                        slot.write(native, state[name][canonical])
                state_var.assign(native)


class _StateIO:
    """The full training state of a TFSession moved in one compiled call each way.

    One group per Keras variable (a parameter, a buffer, one optimizer state of a parameter) with the
    canonical slots that live in it, plus the optimizer's `iterations`. The values travel as one flat host
    array per dtype (each variable a view of its part of it, laid out like the variable), so a transfer is
    one conversion and one call however many variables the model has. A variable whose slots do not cover
    every element (or whose canonical values are not all given) is read first: nothing is ever written from
    a stale copy."""

    def __init__(self, session: TFSession) -> None:
        self.session = session
        groups: list[tuple[Any, list[tuple[str, str, str | None, Any]]]] = []  # variable, [(kind, name, state, slot)]
        for variable, members in slot_groups(session.net.slots).values():
            groups.append((variable, [("parameter", n, None, slot) for n, slot in members]))
        for variable, members in slot_groups(session.net.buffer_slots).values():
            groups.append((variable, [("parameter", n, None, slot) for n, slot in members]))
        opt = session.opt
        if opt is not None:
            kind = session.recipe.optimizer.type  # type: ignore[union-attr]
            for variable, members in slot_groups(session.net.slots).values():
                for canonical, state_var in optimizers.state_variables(opt, kind, variable).items():
                    groups.append((state_var, [("state", n, canonical, slot) for n, slot in members]))
        self.groups = groups
        self.covered = [self._covers(v, [m[3] for m in members]) for v, members in groups]
        dtypes = sorted({np.dtype(tf.as_dtype(v.dtype).as_numpy_dtype).str for v, _ in groups})
        sizes = {dt: 0 for dt in dtypes}
        places = []  # per group: (dtype, offset, size, shape)
        for v, _ in groups:
            dt, shape = np.dtype(tf.as_dtype(v.dtype).as_numpy_dtype).str, tuple(int(d) for d in v.shape)
            size = int(np.prod(shape))
            places.append((dt, sizes[dt], size, shape))
            sizes[dt] += size
        self.dtypes = dtypes
        self.flat = {dt: np.zeros(sizes[dt], dtype=np.dtype(dt)) for dt in dtypes}
        self.natives = [self.flat[dt][o:o + n].reshape(shape) for dt, o, n, shape in places]
        for native, (variable, _) in zip(self.natives, groups, strict=True):
            native[...] = read(variable)
        variables = [g[0] for g in groups]
        iterations = opt.iterations if opt is not None else None
        order = [[(i, o, n, shape) for i, (d, o, n, shape) in enumerate(places) if d == dt] for dt in dtypes]

        def get_all():
            out = [tf.concat([tf.reshape(variables[i].value, [-1]) for i, _, _, _ in part], 0) for part in order]
            return [*out, tf.identity(iterations.value)] if iterations is not None else out

        def set_all(*flats):
            for flat, part in zip(flats, order, strict=False):
                for i, o, n, shape in part:
                    variables[i].assign(tf.reshape(flat[o:o + n], shape))
            if iterations is not None:
                iterations.assign(flats[-1])
            return tf.constant(True)

        specs = [tf.TensorSpec((sizes[dt],), tf.as_dtype(np.dtype(dt))) for dt in dtypes]
        if iterations is not None:
            specs.append(tf.TensorSpec((), tf.as_dtype(iterations.dtype)))
            self.iterations_dtype = np.dtype(tf.as_dtype(iterations.dtype).as_numpy_dtype)
        self.specs, self.get_all, self.set_all = specs, get_all, set_all  # the fused step_from's parts
        self.cached: tuple[int, TrainingState] | None = None  # (the session's version, its state then)
        # every canonical array, in order, per dtype: (kind, name, state, shape) and where its elements sit in the
        # flat array (slot positions inside the variable plus the variable's offset): one scatter packs a state,
        # one gather unpacks it
        self.members: dict[str, list[tuple[str, str, str | None, tuple[int, ...]]]] = {dt: [] for dt in dtypes}
        where: dict[str, list[np.ndarray]] = {dt: [] for dt in dtypes}
        for (_, members), (dt, offset, size, shape) in zip(groups, places, strict=True):
            for kind, name, state, slot in members:
                idx = np.arange(size, dtype=np.int64).reshape(shape) if slot.index is None else slot.index
                self.members[dt].append((kind, name, state, tuple(idx.shape)))
                where[dt].append(offset + idx.reshape(-1))
        self.where = {dt: np.concatenate(w) if w else np.zeros(0, np.int64) for dt, w in where.items()}
        self.splits = {dt: np.cumsum([int(np.prod(m[3])) for m in self.members[dt]])[:-1] for dt in dtypes}
        self.fast = all(self.covered)  # every element of every variable is some canonical value's
        self._transfers: dict[str, Callable] = {}  # "get", "set": made on first use (`_transfer`)

    def _transfer(self, name: str) -> Callable:
        """`get_all` or `set_all` as this session runs: traced on first use when it compiles (each trace costs a
        tenth of a second or more, and a session judged only through the fused `step_from`, certify's level 4,
        never calls them), the Python function itself, op by op, when it runs eagerly."""
        fn = self._transfers.get(name)
        if fn is None:
            s = self.session
            body = self.get_all if name == "get" else self.set_all
            if s.eager:
                def fn(*args, _body=body):
                    with tf.device(s.device):
                        return _body(*args)
            else:
                signature = None if name == "get" else self.specs
                with tf.device(s.device):
                    fn = _plain(tf.function(body, input_signature=signature, autograph=False).get_concrete_function())
            self._transfers[name] = fn
        return fn

    @staticmethod
    def _covers(variable: Any, slots: list[Any]) -> bool:
        if any(s.index is None for s in slots):
            return True
        seen = np.zeros(int(np.prod(variable.shape)), dtype=bool)
        for s in slots:
            seen[s.index.reshape(-1)] = True
        return bool(seen.all())

    def get(self) -> TrainingState:
        state = self._unpack(self._transfer("get")())
        self.cached = (self.session._version, state)
        return state

    def latest(self) -> TrainingState | None:
        """The state last read, if nothing has changed the variables since (else None)."""
        if self.cached is not None and self.cached[0] == self.session._version:
            return self.cached[1]
        return None

    def _unpack(self, out: list) -> TrainingState:
        """A TrainingState from the flat tensors of `get_all` (one per dtype, then `iterations`)."""
        flats = {dt: t.numpy() for dt, t in zip(self.dtypes, out, strict=False)}
        params: Arrays = {}
        states: dict[str, Arrays] = {}
        for dt in self.dtypes:
            values = np.split(flats[dt][self.where[dt]].astype(np.float64), self.splits[dt])
            for (kind, name, state, shape), v in zip(self.members[dt], values, strict=True):
                if kind == "parameter":
                    params[name] = v.reshape(shape)
                else:
                    states.setdefault(name, {})[state] = v.reshape(shape)  # type: ignore[index]
        return self._finish(out, params, states)

    def _unpack_slow(self, out: list) -> TrainingState:
        """`_unpack` group by group, through each slot's own view (the reference for the fast path)."""
        flats = {dt: t.numpy() for dt, t in zip(self.dtypes, out, strict=False)}
        params: Arrays = {}
        states: dict[str, Arrays] = {}
        offsets = dict.fromkeys(self.dtypes, 0)
        for (_, members), mine in zip(self.groups, self.natives, strict=True):
            dt = mine.dtype.str
            native = flats[dt][offsets[dt]:offsets[dt] + mine.size].reshape(mine.shape)
            offsets[dt] += mine.size
            for kind, name, state, slot in members:
                if kind == "parameter":
                    params[name] = slot.view(native)
                else:
                    states.setdefault(name, {})[state] = slot.view(native)  # type: ignore[index]
        return self._finish(out, params, states)

    def _finish(self, out: list, params: Arrays, states: dict[str, Arrays]) -> TrainingState:
        s = self.session
        step = s.step if s.opt is None else int(np.asarray(out[-1]))
        if s.opt is not None:
            for name in s.net.slots:
                states.setdefault(name, {})
        return TrainingState(step, params, states)

    def set(self, state: TrainingState) -> None:
        self._transfer("set")(*self._pack(state))
        self.session.step = int(state.step)
        self.session._version += 1

    def _pack(self, state: TrainingState) -> list:
        """`state` as the setter's arguments: one flat tensor per dtype, then `iterations`."""
        s = self.session
        if self.fast:
            try:
                values = {dt: [np.asarray(state.parameters[name] if kind == "parameter"
                                          else state.optimizer[name][st], dtype=np.float64)
                               for kind, name, st, _ in self.members[dt]] for dt in self.dtypes}
            except KeyError:  # something missing: the slow path names it, or keeps the variable's own value
                values = None
            if values is not None and all(v.shape == m[3] for dt in self.dtypes
                                          for v, m in zip(values[dt], self.members[dt], strict=True)):
                step = int(state.step)
                if step < 0:
                    raise ValueError(f"the optimizer step count must be at least 0, got {step}")
                unknown = sorted(set(state.optimizer) - set(s.net.slots))
                if unknown:
                    raise KeyError(f"optimizer state for unknown parameters: {', '.join(unknown)}")
                for dt in self.dtypes:
                    if values[dt]:
                        self.flat[dt][self.where[dt]] = np.concatenate([v.reshape(-1) for v in values[dt]])
                args = [tf.convert_to_tensor(self.flat[dt]) for dt in self.dtypes]
                if s.opt is not None:
                    args.append(tf.convert_to_tensor(np.asarray(step, dtype=self.iterations_dtype)))
                return args
        return self._pack_slow(state)

    def _pack_slow(self, state: TrainingState) -> list:
        """`_pack` group by group through each slot (a variable not fully covered, or values missing)."""
        s = self.session
        step = int(state.step)
        if step < 0:
            raise ValueError(f"the optimizer step count must be at least 0, got {step}")
        missing = [k for k in (*s.net.slots, *s.net.buffer_slots) if k not in state.parameters]
        if missing:
            raise KeyError(f"missing parameters: {', '.join(missing)}")
        unknown = sorted(set(state.optimizer) - set(s.net.slots))
        if unknown:
            raise KeyError(f"optimizer state for unknown parameters: {', '.join(unknown)}")
        for i, (variable, members) in enumerate(self.groups):
            values = [state.parameters[name] if kind == "parameter" else state.optimizer.get(name, {}).get(st)
                      for kind, name, st, _ in members]
            native = self.natives[i]
            if not (self.covered[i] and all(v is not None for v in values)):
                native[...] = read(variable)
            for (_, name, _, slot), value in zip(members, values, strict=True):
                if value is not None:
                    try:
                        slot.write(native, value)
                    except ValueError as exc:
                        raise ValueError(f"`{name}`: {exc}") from None
        args = [tf.convert_to_tensor(self.flat[dt]) for dt in self.dtypes]
        if s.opt is not None:
            args.append(tf.convert_to_tensor(np.asarray(step, dtype=self.iterations_dtype)))
        return args
