"""A spec model on torch: canonical parameters in and out, native forward, backward and optimizer step.

`train_step` is the loop a careful hand-written torch script runs, with nothing added per step that the
standard does not require: `torch.from_numpy` for the batch (no copy when the dtype matches), the
model's own forward, the native loss, `backward`, one non-finite check (the global norm when clipping
needs it anyway, else torch's fused GradScaler check), at most one host sync (the loss, with the check's
flag), native clipping, `optimizer.step()`, `scheduler.step()`. The step must not change anything when
the loss or a gradient is non-finite (adapters/base.py), so the sync comes before the update; on a CPU
this costs nothing, on a GPU it stops the host from queueing the update ahead of the backward pass.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

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
from lockstep.adapters.torch import clipping, losses, optimizers, schedules
from lockstep.adapters.torch.model import build_model

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

DTYPES = {"float32": torch.float32, "float64": torch.float64}
F = TypeVar("F", bound=Callable[..., Any])
TF32_ENV = "LOCKSTEP_ALLOW_TF32"


def configure_tf32(allow: bool | None = None) -> bool:
    """TF32 off (the standard's float32 is IEEE float32); on with `allow=True` or LOCKSTEP_ALLOW_TF32=1. The CPU's
    float32 matmuls, convolutions and recurrences stay float32 either way: a caller's
    `torch.set_float32_matmul_precision("medium")` or `torch.backends.mkldnn.matmul.fp32_precision = "bf16"` changed
    a CPU run's float32 losses.

    These are process-wide torch flags: the last session built decides them. Both of torch's APIs are written, and
    agree: torch refuses a read of either while they disagree (writing only the legacy `allow_tf32` flags made the
    caller's `torch.get_float32_matmul_precision()` raise afterwards; only the `fp32_precision` settings, a read of
    `torch.backends.cudnn.allow_tf32`)."""
    if allow is None:
        allow = os.environ.get(TF32_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    torch.set_float32_matmul_precision("high" if allow else "highest")
    torch.backends.cudnn.allow_tf32 = allow
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):  # torch 2.9 on
        mode = "tf32" if allow else "ieee"
        for backend in (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn):
            backend.fp32_precision = mode
        for name in ("matmul", "conv", "rnn"):
            if hasattr(getattr(torch.backends.mkldnn, name, None), "fp32_precision"):
                getattr(torch.backends.mkldnn, name).fp32_precision = "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = allow
    return allow


def tf32_allowed() -> tuple[bool, bool]:
    """Whether TF32 is allowed for (cuBLAS matmuls, cuDNN convolutions), read through the API configure_tf32 wrote."""
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        return (torch.backends.cuda.matmul.fp32_precision == "tf32",
                torch.backends.cudnn.conv.fp32_precision == "tf32")
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def _caller_modes_on() -> bool:
    """Whether the caller's thread has a mode on that would change what a session computes: grad off
    (`torch.no_grad()`, `set_grad_enabled(False)`), inference mode, or autocast."""
    if not torch.is_grad_enabled() or torch.is_inference_mode_enabled():
        return True
    try:
        return torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda")
    except TypeError:  # torch before 2.4: no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


@contextmanager
def own_modes() -> Iterator[None]:
    """The session's work in torch's default modes whatever its caller's: under the caller's `torch.no_grad()` a
    run recorded no graph, skipped every backward and reported `ok` with the parameters unmoved; under
    `torch.autocast` it trained in bfloat16. Free when no mode is on (checking costs under a microsecond)."""
    if not _caller_modes_on():
        yield
        return
    with (torch.inference_mode(False), torch.enable_grad(), torch.autocast("cpu", enabled=False),
          torch.autocast("cuda", enabled=False)):
        yield


def _in_own_modes(method: F) -> F:
    """`method` run under `own_modes` (the session's protocol methods, its construction included: parameters made
    in inference mode cannot be trained outside it)."""
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with own_modes():
            return method(*args, **kwargs)

    return run  # type: ignore[return-value]


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A float64 NumPy copy that aliases nothing in the session."""
    t = t.detach()
    if t.dtype == torch.float64 and t.device.type == "cpu":
        return t.numpy().copy()
    return t.to("cpu", torch.float64).numpy()


@contextmanager
def _native_output_silenced() -> Iterator[None]:
    """File descriptors 1 and 2 sent to /dev/null for the duration: the TorchScript exporter prints the whole graph
    from C++ before raising on an operator it cannot export (one line of reason, a hundred of graph), which Python's
    redirect_stdout cannot catch. The exception carries the reason; the caller reports it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


@contextmanager
def _attention_fast_path_off() -> Iterator[None]:
    """nn.MultiheadAttention's fast path off for the duration: in eval mode under no_grad, with biases (the spec's
    default), it runs `aten::_native_multi_head_attention`, which the TorchScript exporter cannot export at any
    opset ("... to ONNX opset version 17 is not supported"). The caller's setting is restored."""
    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


_T = TypeVar("_T", bound=type)


def protocol_in_own_modes(cls: _T) -> _T:
    """`cls` with the session protocol's methods it defines itself (construction included) run under `own_modes`:
    TorchSession, and a subclass's overrides (TorchReplicaSession's DDP build and step)."""
    for name in ("__init__", "set_parameters", "get_parameters", "forward", "export", "loss_and_gradients",
                 "train_step", "step_from", "get_optimizer_state", "set_optimizer_state"):
        if name in cls.__dict__:
            setattr(cls, name, _in_own_modes(cls.__dict__[name]))
    return cls


@protocol_in_own_modes
class TorchSession(Session):
    """One spec model as torch modules on one device in one dtype; with a recipe, it trains."""

    def __init__(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None,
                 allow_tf32: bool | None = None) -> None:
        self.spec = (model, dtype, device, recipe, allow_tf32)  # what `step_from`'s second model is built from
        self._shadow: TorchSession | None = None
        self.tf32 = configure_tf32(allow_tf32)
        self.dtype = DTYPES[dtype]
        self.device = torch.device(device)
        self.cpu = self.device.type == "cpu"
        self.model = build_model(model, self.dtype, self.device)
        self.net = self.model.net
        self.slots = self.model.slots
        self.buffer_slots = self.model.buffer_slots
        self.all_slots = {**self.slots, **self.buffer_slots}
        self.dropouts = self.model.dropouts
        graph = self.model.graph
        self.input_names = list(graph.input_shapes)
        self.int_inputs = [graph.input_dtypes[n] == "int64" for n in self.input_names]
        self.index_limits = self._index_limits() if not self.cpu else {}
        self.training: bool | None = None  # the mode the modules are in (switching recurses: do it only on change)
        self.step = 0
        self.recipe = recipe
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        self.buffers = [s.tensor for s in self.buffer_slots.values()]
        self.snapshot = [torch.empty_like(b) for b in self.buffers]
        self.opt: torch.optim.Optimizer | None = None
        self.scheduler = None
        if recipe is not None:
            self._configure_training(recipe)

    def _configure_training(self, recipe: Recipe) -> None:
        if len(self.model.graph.outputs) != 1:
            raise UnsupportedConstruct("outputs", "a recipe trains a model with exactly one output")
        out_rank = len(self.model.graph.output_shapes()[0]) + 1
        self.loss_fn = losses.build(recipe.loss, out_rank)
        self.l2 = recipe.regularization.l2
        self.l2_in_session = self.l2 > 0 and optimizers.coupled_l2_in_session(recipe.optimizer)
        self.clip = recipe.gradient_clipping
        self.clip_norm = self.clip.max_norm if self.clip is not None and self.clip.type == "global_norm" else None
        self.clip_value = self.clip.clip_value if self.clip is not None and self.clip.type == "value" else None
        self.check = clipping.NonFiniteCheck(self.device)
        self.base_lr = recipe.optimizer.learning_rate
        if self.params:  # torch.optim refuses an empty parameter list; a parameter-free model still has a loss
            self.opt = optimizers.build(recipe.optimizer, self.params, self.l2)
            self.group = self.opt.param_groups[0]
            self.scheduler = schedules.build(recipe.schedule, self.opt)
        else:
            self.scheduler = None

    # ------------------------------------------------------------------------------------ conversion
    def _index_limits(self) -> dict[int, int]:
        """Input position -> smallest embedding size it feeds: checked on the host before a CUDA transfer,
        since an out-of-range index on the device is an assert that poisons the CUDA context."""
        return {self.input_names.index(k): v for k, v in embedding_index_limits(self.model.graph).items()}

    def _tensor(self, a: np.ndarray, integer: bool) -> torch.Tensor:
        """The batch as a tensor without a copy where torch can share the array's memory (a runner batch)."""
        if not isinstance(a, np.ndarray) or not a.flags.writeable:
            a = np.array(a)
        try:
            t = torch.from_numpy(a)
        except ValueError:  # negative strides, non-native byte order
            t = torch.from_numpy(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("=")))
        if integer:
            if t.dtype != torch.int64:
                t = t.long()
        elif t.dtype != self.dtype:
            t = t.to(self.dtype)
        return t if self.cpu else t.to(self.device, non_blocking=True)

    def _inputs(self, x: np.ndarray | Arrays) -> list[torch.Tensor]:
        arrays = [x[n] for n in self.input_names] if isinstance(x, dict) else [x]
        if len(arrays) != len(self.input_names):
            raise ValueError(f"the model takes inputs {self.input_names}; pass a dict of arrays")
        for i, limit in self.index_limits.items():
            check_indices(self.input_names[i], arrays[i], limit)
        return [self._tensor(a, integer) for a, integer in zip(arrays, self.int_inputs, strict=True)]

    def _target(self, y: np.ndarray) -> torch.Tensor:
        y = np.asarray(y)
        return self._tensor(y, np.issubdtype(y.dtype, np.integer))

    def _mode(self, training: bool, masks: Arrays | None) -> None:
        training = bool(training)
        if self.training is not training:
            self.net.train(training)
            self.training = training
        if training and self.dropouts:
            for name, layer in self.dropouts.items():
                keep = None if masks is None else masks.get(name)
                layer.set_mask(None if keep is None else self._tensor(np.asarray(keep), False))

    # ------------------------------------------------------------------------------------ parameters
    def set_parameters(self, params: Arrays) -> None:
        missing = [k for k in self.all_slots if k not in params]
        if missing:
            raise KeyError(f"missing parameters: {', '.join(missing)}")
        for name, slot in self.all_slots.items():
            value = np.asarray(params[name])
            shape = tuple(slot.view().shape)
            if value.shape != shape:
                raise ValueError(f"`{name}` has shape {list(value.shape)}, the model needs {list(shape)}")
            slot.write(torch.from_numpy(np.array(value, dtype=np.float64)))

    def get_parameters(self) -> Arrays:
        return {k: to_numpy(s.view()) for k, s in self.all_slots.items()}

    # --------------------------------------------------------------------------------------- compute
    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        self._mode(training, masks)
        with torch.no_grad():
            out = self.net(*self._inputs(x))
        return [to_numpy(o) for o in out] if isinstance(out, list) else to_numpy(out)  # type: ignore[return-value]

    def export(self, path: str | Path, *, format: str = "onnx", opset: int = 17) -> Path:
        """torch.onnx.export of the eval-mode module, batch axis dynamic, inputs and outputs named as the Model.

        torch 2.13's default exporter (dynamo=True) needs onnxscript; this uses the TorchScript exporter
        (dynamo=False), which needs only onnx and still ships, deprecated. Its DeprecationWarning is silenced:
        the choice is deliberate (docs/tutorials/deploy.md)."""
        import warnings

        if format != "onnx":
            raise UnsupportedConstruct(f"export:{format}", "the torch adapter exports ONNX only")
        self._mode(False, None)
        graph = self.model.graph
        kinds = zip(self.input_names, self.int_inputs, strict=True)
        example = [torch.zeros((1, *graph.input_shapes[n]), dtype=torch.int64 if integer else self.dtype,
                               device=self.device) for n, integer in kinds]
        names = {n: {0: "N"} for n in (*self.input_names, *graph.outputs)}
        from lockstep.adapters.torch.layers import rms_norm

        with warnings.catch_warnings(), torch.no_grad(), rms_norm.decomposed(self.net), _attention_fast_path_off(), \
                _native_output_silenced():
            warnings.simplefilter("ignore")
            torch.onnx.export(self.net, tuple(example), str(path), dynamo=False, opset_version=opset,
                              input_names=self.input_names, output_names=list(graph.outputs), dynamic_axes=names,
                              do_constant_folding=True)
        return Path(path)

    def _require_recipe(self) -> None:
        if self.recipe is None:
            raise RuntimeError("this session was built without a recipe: it can run forward only")

    def _loss_backward(self, x: np.ndarray | Arrays, y: np.ndarray, masks: Arrays | None) -> torch.Tensor:
        self._mode(True, masks)
        out = self.net(*self._inputs(x))
        loss = self.loss_fn(out, self._target(y))
        for p in self.params:
            p.grad = None
        if loss.requires_grad:
            loss.backward()
        return loss

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        self._require_recipe()
        loss = self._loss_backward(x, y, masks)
        grads = {}
        for name, s in self.slots.items():
            g = s.tensor.grad
            grads[name] = to_numpy(s.view(g)) if g is not None else np.zeros(tuple(s.view().shape))
        return loss.item(), grads

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        self._require_recipe()
        for saved, live in zip(self.snapshot, self.buffers, strict=True):  # batch-norm statistics, for a rollback
            saved.copy_(live)
        loss = self._loss_backward(x, y, masks)
        grads = [p.grad for p in self.params if p.grad is not None]
        flag = clipping.total_norm(grads) if self.clip_norm is not None and grads else (
            self.check(grads) if grads else None)
        if flag is None:
            value, flag_value = loss.item(), 0.0
        elif self.cpu:
            value, flag_value = loss.item(), flag.item()
        else:  # one device-to-host transfer for both
            value, flag_value = torch.stack([loss.detach().double().reshape(()), flag.double().reshape(())]).tolist()
        if self.clip_norm is not None and grads and math.isfinite(value):  # squares overflowed or underflowed
            flag, flag_value = clipping.true_norm(grads, flag, flag_value)
        bad_grads = not math.isfinite(flag_value) if self.clip_norm is not None else flag_value != 0.0
        if not math.isfinite(value) or bad_grads:
            for saved, live in zip(self.snapshot, self.buffers, strict=True):
                live.copy_(saved)
            raise NonFiniteError("loss" if not math.isfinite(value) else f"gradient of {self._non_finite()}")
        norm = flag_value if self.clip_norm is not None and grads else None
        if self.clip is not None and (grads or self.clip_norm is None):
            clipping.clip(self.params, self.clip, flag, flag_value)
        session_l2 = self.l2 if self.l2_in_session and grads else 0.0
        wide = self.opt is not None and optimizers.scalars_beyond(self.group, self.dtype, session_l2)
        if session_l2 and not wide:
            optimizers.add_coupled_l2(grads, [p for p in self.params if p.grad is not None], self.l2)
        if self.opt is None:  # a model without parameters: nothing to update, the standard's rate reported
            from lockstep.reference.schedules import learning_rate

            lr = learning_rate(self.recipe.schedule, self.base_lr, self.step)  # type: ignore[union-attr]
        else:
            lr = self.group["lr"]
            if wide:  # a hyper-parameter near float32's largest value: torch's step in float64, rounded back
                optimizers.wide_step(self.opt, session_l2)
            else:
                self.opt.step()
            if self.scheduler is not None and wide:  # torch's scheduler counts opt.step, which wide_step stood in
                with warnings.catch_warnings():  # for: its "scheduler before optimizer" warning is not the user's
                    warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
                    self.scheduler.step()
            elif self.scheduler is not None:
                self.scheduler.step()
        self.step += 1
        return StepResult(value, float(lr), norm)

    def _twin(self) -> TorchSession:
        """A deep copy of this session (model, optimizer and its class, scheduler), without its own twin."""
        import copy

        shadow, self._shadow = self._shadow, None
        try:
            twin = copy.deepcopy(self)
        finally:
            self._shadow = shadow
        opt = twin.opt
        if opt is not None and twin.scheduler is not None and not hasattr(opt.step, "_wrapped_by_lr_sched"):
            # a copied optimizer has its class's step again, not the scheduler's counting wrapper (which would step
            # the original): marked as torch's LRScheduler marks it, else its first step warns "optimizer.step()
            # has been overridden after learning rate scheduler initialization"
            step = opt.step

            def counted(*args: Any, **kwargs: Any) -> Any:
                opt._opt_called = True  # type: ignore[attr-defined]
                return step(*args, **kwargs)

            counted._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
            opt.step = counted  # type: ignore[method-assign]
        return twin

    def _non_finite(self) -> str:
        for name, s in self.slots.items():
            g = s.tensor.grad
            if g is not None and not bool(torch.isfinite(s.view(g)).all()):
                return name
        return "a parameter"

    def step_from(self, state: TrainingState, x: np.ndarray | Arrays, y: np.ndarray, *,
                  masks: Arrays | None = None) -> tuple[StepResult, TrainingState]:
        """On a second model of this session's (built once, on first use), so that this one's own state,
        scheduler included, is never touched: the second one moves forward step by step (its scheduler replays
        only the steps in between), where moving this one back and forth would replay its scheduler from 0.
        The second one is a copy of this one, not a session built anew: an adapter built on this one (its own
        optimizer, a layer of its own) is judged on what it built; a fresh TorchSession judged stock torch."""
        if self._shadow is None:
            self._shadow = self._twin()
        self._shadow.set_state(state)
        result = self._shadow.train_step(x, y, masks=masks)
        return result, self._shadow.get_state()

    # ---------------------------------------------------------------------------------- optimizer state
    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        out: dict[str, Arrays] = {}
        if self.opt is None:
            return self.step, out
        opt = self.recipe.optimizer  # type: ignore[union-attr]
        names = optimizers.state_names(opt)
        for cname, s in self.slots.items():
            st = self.opt.state.get(s.tensor, {})
            out[cname] = {n: to_numpy(s.view(st[n])) if st.get(n) is not None else self._initial_state(n, s)
                          for n in names}
        return self.step, out

    def _initial_state(self, name: str, slot) -> np.ndarray:
        shape = tuple(slot.view().shape)
        if name == "sum":
            return np.full(shape, self.recipe.optimizer.initial_accumulator_value)  # type: ignore[union-attr]
        return np.zeros(shape)

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        """Load canonical optimizer state, writing into torch's own state tensors where they exist (the
        re-synchronized comparison calls this every step), and put the scheduler at `step`.

        The scheduler has always been stepped exactly `self.step` times: moving forward replays only the
        difference, moving back replays a fresh one from 0; either way the rates are bit-identical to an
        uninterrupted run's (torch's schedulers are recursive)."""
        unknown = sorted(set(state) - set(self.slots))
        if unknown:
            raise KeyError(f"optimizer state for unknown parameters: {', '.join(unknown)}")
        step = int(step)
        if step < 0:
            raise ValueError(f"the optimizer step count must be at least 0, got {step}")
        if self.opt is None:
            self.step = step
            return
        opt = self.recipe.optimizer  # type: ignore[union-attr]
        names = optimizers.state_names(opt)
        if step == 0 and opt.type == "sgd":  # SGD's first step sets its buffer to the gradient: keep it empty
            self.opt.state.clear()
        else:
            scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32  # torch's choice
            counted = optimizers.has_step_count(opt)
            started: set[int] = set()
            for cname, s in self.slots.items():
                st = self.opt.state[s.tensor]
                if id(s.tensor) not in started:  # the first slot of a (possibly fused) tensor resets its entries
                    started.add(id(s.tensor))
                    if counted:
                        held = st.get("step")
                        if isinstance(held, torch.Tensor) and held.dtype == scalar and held.dim() == 0:
                            held.fill_(float(step))
                        else:
                            st["step"] = torch.tensor(float(step), dtype=scalar)
                    for n in names:
                        held = st.get(n)
                        if isinstance(held, torch.Tensor) and held.shape == s.tensor.shape:
                            held.zero_()
                        else:
                            st[n] = torch.zeros_like(s.tensor, memory_format=torch.preserve_format)
                for n in names:
                    value = state.get(cname, {}).get(n)
                    s.write(torch.from_numpy(np.asarray(value, dtype=np.float64)) if value is not None
                            else torch.from_numpy(self._initial_state(n, s)), into=st[n])
        if step < self.step:  # a fresh scheduler replayed from 0
            self.group["lr"] = self.base_lr
            self.scheduler = schedules.build(self.recipe.schedule, self.opt)  # type: ignore[union-attr]
            schedules.fast_forward(self.scheduler, step)
        elif step > self.step:
            schedules.fast_forward(self.scheduler, step - self.step)
        self.step = step
