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
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from lockstep.adapters.base import Arrays, NonFiniteError, Session, StepResult, UnsupportedConstruct
from lockstep.adapters.tensorflow import losses, optimizers
from lockstep.adapters.tensorflow.model import TFModel, read, slot_groups
from lockstep.adapters.tensorflow.schedules import StandardSchedule
from lockstep.spec.losses import CLASS_INDEX_LOSSES

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

DTYPES = {"float32": tf.float32, "float64": tf.float64}


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
        self.input_spec = {k: tf.TensorSpec((None, *s), tf.int64 if k in self.int_inputs else DTYPES[dtype])
                           for k, s in graph.input_shapes.items()}
        self.mask_spec = {k: tf.TensorSpec((None, *s), tf.bool) for k, s in self.net.dropout_shapes.items()}
        self.recipe = recipe
        self.step = 0
        self.opt = None
        self._functions: dict[str, Any] = {}  # tf.function per entry point (tracing counts, tests)
        self._compiled: dict[str, Callable] = {}  # their concrete functions, called on every step
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
                with tf.device(self.device):
                    self.opt = optimizers.build(recipe.optimizer, self.schedule)
                    self.opt.build(self.net.trainable)

    # ------------------------------------------------------------------------------ conversion
    # Compiled functions take flat positional tensors, in this order: the model inputs (input_spec's
    # order), then the target, then the dropout keep-masks (mask_spec's order).
    def _input_args(self, x: np.ndarray | Arrays) -> list[tf.Tensor]:
        if not isinstance(x, dict):
            x = {self.net.input_names[0]: x}
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

    def _compile(self, name: str, fn: Callable, *, target: bool, masks: bool) -> Callable:
        """The concrete function of `fn` over (inputs, [target], [masks]), traced once on first use.

        Calling the ConcreteFunction directly with tensors skips tf.function's per-call signature
        matching and cache lookup (a third of a small model's step time on a CPU)."""
        if name not in self._compiled:
            specs = [*self.input_spec.values(), *([self.target_spec] if target else []),
                     *(self.mask_spec.values() if masks else [])]
            function = tf.function(fn, input_signature=specs, reduce_retracing=True, autograph=False)
            self._functions[name] = function
            self._compiled[name] = function.get_concrete_function()
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
            norm = tf.linalg.global_norm(grads)
            finite = tf.math.logical_and(tf.math.is_finite(loss), tf.math.is_finite(norm))

            def apply():
                gs = grads
                if self.clip is not None and self.clip.type == "global_norm":
                    gs, _ = tf.clip_by_global_norm(gs, self.clip.max_norm, use_norm=norm)
                elif self.clip is not None:
                    gs = [tf.clip_by_value(g, -self.clip.clip_value, self.clip.clip_value) for g in gs]
                if self.l2:
                    gs = [g + self.l2 * v.value for g, v in zip(gs, self.net.trainable, strict=True)]
                self.opt.apply(gs, self.net.trainable)
                return tf.constant(True)

            def rollback():
                for b, v in zip(self.net.buffers, saved, strict=True):
                    b.assign(v)
                return tf.constant(False)

            ok = tf.cond(finite, apply, rollback)
            f64 = tf.float64
            return tf.stack([tf.cast(loss, f64), tf.cast(norm, f64), tf.cast(lr, f64), tf.cast(ok, f64)])

    # ------------------------------------------------------------------------------ protocol
    def set_parameters(self, params: Arrays) -> None:
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
        if self.opt is None:  # a parameter-free model still has a loss
            value, _ = self._gradients(x, y, masks)
            if not np.isfinite(value):
                raise NonFiniteError("loss")
            lr = float(self.schedule(self.step).numpy())
            self.step += 1
            return StepResult(value, lr, 0.0)
        fn = self._compile("step", self._graph_step, target=True, masks=True)
        loss, norm, lr, ok = fn(*self._input_args(x), self._target_arg(y), *self._mask_args(masks)).numpy()
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
