"""The reference as an adapter: the float64 oracle behind the same interface as every framework."""

from __future__ import annotations

import platform

import numpy as np

from lockstep import __version__
from lockstep.adapters.base import NATIVE, Adapter, Arrays, NonFiniteError, Session, StepResult, Support
from lockstep.reference import clipping, losses, optimizers, schedules
from lockstep.reference.model import ReferenceModel


class ReferenceSession(Session):
    def __init__(self, model, recipe=None) -> None:
        self.net = ReferenceModel(model)
        self.recipe = recipe
        self.params: Arrays = {k: np.zeros(s.shape) for k, s in self.net.param_specs.items()}
        self.buffers: Arrays = {k: np.zeros(s.shape) for k, s in self.net.buffer_specs.items()}
        self.step = 0
        self.states = optimizers.init_states(recipe.optimizer, self.params) if recipe is not None else {}

    def set_parameters(self, params: Arrays) -> None:
        missing = [k for k in (*self.params, *self.buffers) if k not in params]
        if missing:
            raise KeyError(f"missing parameters: {', '.join(missing)}")
        for k in self.params:
            self.params[k] = np.array(params[k], dtype=np.float64)
        for k in self.buffers:
            self.buffers[k] = np.array(params[k], dtype=np.float64)

    def get_parameters(self) -> Arrays:
        return {**{k: v.copy() for k, v in self.params.items()}, **{k: v.copy() for k, v in self.buffers.items()}}

    def forward(self, x, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        return np.array(self.net.forward(x, self.params, self.buffers, training=training, masks=masks))

    def loss_and_gradients(self, x, y, *, masks: Arrays | None = None) -> tuple[float, Arrays]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite values are reported
            out = self.net.forward(x, self.params, self.buffers, training=True, masks=masks)
            value, g = losses.compute(self.recipe.loss, out, y)
            return value, self.net.backward(g)

    def train_step(self, x, y, *, masks: Arrays | None = None) -> StepResult:
        r = self.recipe
        saved = {k: v.copy() for k, v in self.buffers.items()}
        value, grads = self.loss_and_gradients(x, y, masks=masks)
        bad = "loss" if not np.isfinite(value) else next(
            (f"gradient of {k}" for k, g in grads.items() if not np.all(np.isfinite(g))), None)
        if bad is not None:
            self.buffers = saved
            raise NonFiniteError(bad)
        grads, norm = clipping.clip(grads, r.gradient_clipping)
        lr = schedules.learning_rate(r.schedule, r.optimizer.learning_rate, self.step)
        self.step += 1
        self.params = optimizers.apply(r.optimizer, self.params, grads, self.states, lr, self.step,
                                       r.regularization.l2)
        return StepResult(value, lr, norm)

    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        return self.step, {k: {n: a.copy() for n, a in s.items()} for k, s in self.states.items()}

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        self.step = int(step)
        for k, s in state.items():
            for n, a in s.items():
                self.states[k][n] = np.array(a, dtype=np.float64)


class ReferenceAdapter(Adapter):
    """Always computes in float64, whatever dtype is asked for: it is the oracle."""

    name = "reference"

    def versions(self) -> dict[str, str]:
        return {"lockstep": __version__, "numpy": np.__version__, "python": platform.python_version()}

    def devices(self) -> list[str]:
        return ["cpu"]

    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        return NATIVE if device == "cpu" else Support("unsupported", "the reference runs on the CPU only")

    def build(self, model, *, dtype: str, device: str = "cpu", recipe=None) -> Session:
        if device != "cpu":
            raise ValueError("the reference backend runs on the CPU only")
        return ReferenceSession(model, recipe)
