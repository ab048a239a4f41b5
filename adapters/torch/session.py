"""A spec model on torch: canonical parameters in and out, native forward/backward/optimizer step."""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from lockstep.adapters.base import Arrays, NonFiniteError, Session, StepResult
from lockstep.adapters.torch import losses, optimizers, schedules
from lockstep.adapters.torch.model import TorchModel

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def configure_tf32() -> None:
    """TF32 is off (conformance); LOCKSTEP_ALLOW_TF32=1 turns it on for users who want speed."""
    allow = os.environ.get("LOCKSTEP_ALLOW_TF32") == "1"
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


class TorchSession(Session):
    def __init__(self, model, *, dtype: str, device: str, recipe=None) -> None:
        configure_tf32()
        self.dtype = DTYPES[dtype]
        self.device = torch.device(device)
        self.net = TorchModel(model, self.dtype).to(self.device)
        self.slots = self.net.slots()
        self.buffer_slots = self.net.buffer_slots()
        self.int_inputs = {k for k, v in self.net.graph.input_dtypes.items() if v == "int64"}
        self.recipe = recipe
        self.step = 0
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        if recipe is not None:
            self.loss_fn = losses.build(recipe.loss)
            self.l2 = recipe.regularization.l2
            # a parameter-free model still has a loss; torch.optim refuses an empty parameter list
            self.opt = optimizers.build(recipe.optimizer, self.params, self.l2) if self.params else None
            self.l2_outside = optimizers.coupled_l2_outside(recipe.optimizer) and self.l2 > 0
            self.clip = recipe.gradient_clipping
            self.base_lr = recipe.optimizer.learning_rate

    # ------------------------------------------------------------------------------ conversion
    def _tensor(self, a: np.ndarray, integer: bool = False) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a))
        t = t.long() if integer else t.to(self.dtype)
        return t.to(self.device, non_blocking=True)

    def _inputs(self, x) -> dict[str, torch.Tensor]:
        if not isinstance(x, dict):
            x = {self.net.input_names[0]: x}
        return {k: self._tensor(v, k in self.int_inputs) for k, v in x.items()}

    def _target(self, y: np.ndarray) -> torch.Tensor:
        return self._tensor(y, np.issubdtype(y.dtype, np.integer))

    def _masks(self, masks):
        return {k: self._tensor(v) for k, v in masks.items()} if masks else None

    @staticmethod
    def _numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().to("cpu", torch.float64).numpy().copy()

    # ------------------------------------------------------------------------------ protocol
    def set_parameters(self, params: Arrays) -> None:
        for name, slot in {**self.slots, **self.buffer_slots}.items():
            if name not in params:
                raise KeyError(f"missing parameter {name}")
            slot.write(torch.as_tensor(params[name], dtype=slot.param.dtype, device=slot.param.device))

    def get_parameters(self) -> Arrays:
        return {k: self._numpy(s.view()) for k, s in {**self.slots, **self.buffer_slots}.items()}

    def forward(self, x, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        self.net.train(training)
        with torch.no_grad():
            out = self.net(self._inputs(x), self._masks(masks))
        return self._numpy(out)

    def _loss_backward(self, x, y, masks) -> torch.Tensor:
        self.net.train(True)
        for p in self.params:
            p.grad = None
        out = self.net(self._inputs(x), self._masks(masks))
        loss = self.loss_fn(out, self._target(y))
        if loss.requires_grad:
            loss.backward()
        return loss

    def loss_and_gradients(self, x, y, *, masks: Arrays | None = None) -> tuple[float, Arrays]:
        loss = self._loss_backward(x, y, masks)
        grads = {}
        for name, s in self.slots.items():
            g = s.param.grad
            grads[name] = self._numpy(s.view(g)) if g is not None else np.zeros(tuple(s.view().shape))
        return float(loss), grads

    def train_step(self, x, y, *, masks: Arrays | None = None) -> StepResult:
        buffers = {k: s.view().detach().clone() for k, s in self.buffer_slots.items()} if self.buffer_slots else {}
        loss = self._loss_backward(x, y, masks)
        value = loss.item()
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
        norm_value = float(norm)
        if not math.isfinite(value) or not math.isfinite(norm_value):
            for k, s in self.buffer_slots.items():
                s.write(buffers[k])
            raise NonFiniteError("loss" if not math.isfinite(value) else f"gradient of {self._non_finite()}")
        if self.clip is not None:
            if self.clip.type == "global_norm":
                if norm_value > self.clip.max_norm:
                    # torch divides by (norm + 1e-6); the standard by the norm: scale max_norm to cancel it
                    adjusted = self.clip.max_norm * (norm_value + 1e-6) / norm_value
                    torch.nn.utils.clip_grads_with_norm_(self.params, adjusted, norm, foreach=False)
            else:
                torch.nn.utils.clip_grad_value_(self.params, self.clip.clip_value, foreach=False)
        if self.l2_outside:
            with torch.no_grad():
                for p in self.params:
                    if p.grad is not None:
                        p.grad.add_(p, alpha=self.l2)
        lr = schedules.factor(self.recipe.schedule, self.base_lr, self.step)
        if self.opt is not None:
            for group in self.opt.param_groups:
                group["lr"] = lr
            self.opt.step()
        self.step += 1
        return StepResult(value, lr, norm_value)

    def _non_finite(self) -> str:
        for name, s in self.slots.items():
            g = s.param.grad
            if g is not None and not torch.isfinite(s.view(g)).all():
                return name
        return "a parameter"

    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        out: dict[str, Arrays] = {}
        if self.opt is None:
            return self.step, out
        for name, s in self.slots.items():
            st = self.opt.state.get(s.param, {})
            out[name] = {k: self._numpy(s.view(v)) for k, v in st.items() if k != "step" and torch.is_tensor(v)
                         and v.shape == s.param.shape}
        return self.step, out

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        self.step = int(step)
        if self.opt is None:
            return
        scalar = torch.float64 if self.dtype == torch.float64 else torch.float32
        for name, s in self.slots.items():
            st = self.opt.state[s.param]
            st["step"] = torch.tensor(float(step), dtype=scalar)
            for k, v in state.get(name, {}).items():
                if k not in st:
                    st[k] = torch.zeros_like(s.param, memory_format=torch.preserve_format)
                s.write(torch.as_tensor(v, dtype=s.param.dtype, device=s.param.device), st[k])
