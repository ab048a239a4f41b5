"""The reference as an adapter: the float64 oracle behind the same interface as every framework.

The runner and the conformance suite then have one code path for every backend. The reference always
computes in float64, also for float32 recipes (it is what float32 backends are measured against);
`versions()` and `support()` say so, so reports never pass it off as a float32 run.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any

import numpy as np

from lockstep import __version__
from lockstep.adapters.base import (
    Adapter,
    Arrays,
    NonFiniteError,
    Session,
    StepResult,
    Support,
    UnsupportedConstruct,
)
from lockstep.reference import clipping, losses, optimizers, schedules
from lockstep.reference.model import ReferenceModel
from lockstep.reference.representable import limit, loss_to_range, to_range
from lockstep.spec.constructs import construct_names

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

COMPUTE_NOTE = ("computes in float64 whatever the dtype asked for (the reference is the oracle); beyond float32's "
                "range a value is non-finite, as in float32")


WRITTEN_NOTE = "the standard's own float64 NumPy math (reference/): the oracle every adapter is certified against"


def _constructs() -> frozenset[str]:
    """Every spec v1 type name: the reference runs all of them (initializers and data steps included)."""
    run, prepared = construct_names()
    return run | prepared


class ReferenceSession(Session):
    """One model in float64 NumPy; parameters, buffers and optimizer state are plain dicts of arrays.

    For `dtype` float32 a value beyond float32's range is ±∞ where the standard checks it (the model output,
    the loss, the gradients, the state after a step: `reference/representable.py`), so the run stops where
    float32 would."""

    def __init__(self, model: Model, recipe: Recipe | None = None, dtype: str = "float64") -> None:
        self.net = ReferenceModel(model)
        self.recipe = recipe
        self.bound = limit(dtype)
        self.params: Arrays = {k: np.zeros(s.shape) for k, s in self.net.param_specs.items()}
        self.buffers: Arrays = {k: np.zeros(s.shape) for k, s in self.net.buffer_specs.items()}
        self.step = 0
        self.states = optimizers.init_states(recipe.optimizer, self.params) if recipe is not None else {}

    def _recipe(self) -> Recipe:
        if self.recipe is None:
            raise RuntimeError("this session was built without a recipe: it can run forward only")
        return self.recipe

    def set_parameters(self, params: Arrays) -> None:
        missing = [k for k in (*self.params, *self.buffers) if k not in params]
        if missing:
            raise KeyError(f"missing parameters: {', '.join(missing)}")
        for group, specs in ((self.params, self.net.param_specs), (self.buffers, self.net.buffer_specs)):
            for k in group:
                a = np.array(params[k], dtype=np.float64)
                if a.shape != tuple(specs[k].shape):
                    raise ValueError(f"`{k}` has shape {list(a.shape)}, the model needs {list(specs[k].shape)}")
                group[k] = a

    def get_parameters(self) -> Arrays:
        return {**{k: v.copy() for k, v in self.params.items()}, **{k: v.copy() for k, v in self.buffers.items()}}

    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        out = self.net.forward(x, self.params, self.buffers, training=training, masks=masks)
        return to_range(np.array(out, dtype=np.float64), self.bound)

    # The four places a training step's math is chosen; the conformance mutants override one each.
    def compute_loss(self, loss: Any, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        """The reduced loss and d loss / d prediction (`reference/losses/`)."""
        return losses.compute(loss, prediction, target)

    def learning_rate(self, t: int) -> float:
        """The learning rate of 0-based optimizer step `t` (`reference/schedules/`)."""
        r = self._recipe()
        return schedules.learning_rate(r.schedule, r.optimizer.learning_rate, t)

    def clip_gradients(self, grads: Arrays, clip: Any) -> tuple[Arrays, float]:
        """The clipped gradients and ‖g‖ before clipping (`reference/clipping.py`)."""
        return clipping.clip(grads, clip)

    def optimizer_step(self, opt: Any, name: str, param: np.ndarray, grad: np.ndarray, state: Arrays, lr: float,
                       t: int) -> np.ndarray:
        """One parameter's update at 1-based step `t` (`reference/optimizers/`)."""
        return optimizers.rule(opt, name, param, grad, state, lr, t)

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        """Note: updates batch-norm buffers (a training-mode forward), like the frameworks do."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite values are reported
            out = to_range(self.net.forward(x, self.params, self.buffers, training=True, masks=masks), self.bound)
            value, g = self.compute_loss(self._recipe().loss, out, y)
            grads = self.net.backward(g)
            if self.bound is None:
                return value, grads
            loss = self._recipe().loss
            value = loss_to_range(loss.type, loss.reduction, value, out.shape, self.bound)
            return value, {k: to_range(v, self.bound) for k, v in grads.items()}

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        r = self._recipe()
        saved = {k: v.copy() for k, v in self.buffers.items()}
        value, grads = self.loss_and_gradients(x, y, masks=masks)
        bad = "loss" if not np.isfinite(value) else next(
            (f"gradient of {k}" for k, g in grads.items() if not np.all(np.isfinite(g))), None)
        if bad is not None:
            self.buffers = saved  # nothing changes on a failed step, not even running statistics
            raise NonFiniteError(bad)
        raw = grads
        grads, norm = self.clip_gradients(grads, r.gradient_clipping)
        lr = self.learning_rate(self.step)
        self.step += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # inf and NaN state are the standard's
            self.params = optimizers.apply(r.optimizer, self.params, grads, self.states, lr, self.step,
                                           r.regularization.l2, self.optimizer_step)
        if self.bound is not None:  # what float32 would hold after the update: ±∞ beyond its range
            for group in (self.params, self.buffers):
                group.update({k: to_range(v, self.bound) for k, v in group.items()})
            for s in self.states.values():
                s.update({n: to_range(a, self.bound) for n, a in s.items()})
        # the gradients before clipping: the re-synchronized judgement derives the step's bounds from them
        return StepResult(value, lr, norm, {"gradients": raw})

    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        return self.step, {k: {n: a.copy() for n, a in s.items()} for k, s in self.states.items()}

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        unknown = sorted(set(state) - set(self.states))
        if unknown:
            raise KeyError(f"optimizer state for unknown parameters: {', '.join(unknown)}")
        self.step = int(step)
        for k, s in state.items():
            for n, a in s.items():
                self.states[k][n] = np.array(a, dtype=np.float64)


class ReferenceAdapter(Adapter):
    """The float64 NumPy reference, on the CPU. Always computes in float64, whatever dtype is asked for."""

    name = "reference"
    EXECUTION = "NumPy in float64, the standard's formulas as written (reference/)"

    def versions(self) -> dict[str, str]:
        return {"lockstep": __version__, "numpy": np.__version__, "python": platform.python_version(),
                "compute_dtype": "float64"}

    def devices(self) -> list[str]:
        return ["cpu"]

    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        if device != "cpu":
            return Support("unsupported", "the reference runs on the CPU only")
        if construct not in _constructs():
            return Support("unsupported", f"`{construct}` is not a spec v1 construct")
        # provenance: the reference *is* the standard's math, written once in NumPy (no framework runs it)
        return Support("written", WRITTEN_NOTE + ("" if dtype == "float64" else f"; {COMPUTE_NOTE}"))

    def configure_threads(self, intra_op: int, inter_op: int = 1) -> dict[str, Any]:
        """NumPy's OpenBLAS threads (the reference's matrix products), where that BLAS can be reached."""
        from lockstep.fingerprint import blas_threads

        threads = blas_threads(intra_op)
        return {} if threads is None else {"blas": threads}

    def build(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None) -> Session:
        if device != "cpu":
            raise UnsupportedConstruct(f"device:{device}", "the reference backend runs on the CPU only (device `cpu`)")
        if dtype not in ("float32", "float64"):
            raise UnsupportedConstruct(f"dtype:{dtype}", "the reference takes float32 or float64 recipes")
        return ReferenceSession(model, recipe, dtype)
