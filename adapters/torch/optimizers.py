"""Spec optimizers on native torch.optim, every hyper-parameter passed explicitly.

The standard's optimizers are PyTorch's formulation (docs/spec/v1-semantics.md), so the mapping is one
to one: RMSprop's `rho` is torch's `alpha`; Adagrad's `lr_decay` is 0. Coupled L2 (`regularization.l2`,
added to the gradient after clipping) is torch's `weight_decay` for sgd, adam, rmsprop and adagrad,
which adds `weight_decay * w` to the gradient inside `step()` - after the session clipped - the
standard's placement. AdamW's `weight_decay` is the decoupled decay; there the session adds `l2 * w` to
the gradients itself (`coupled_l2_in_session`). `foreach`/`fused` are left to torch's defaults (the
per-tensor loop on CPU, multi-tensor kernels on CUDA), as a hand-written loop would.

Optimizer state keys in torch are the standard's canonical state names (`momentum_buffer`, `exp_avg`,
`exp_avg_sq`, `max_exp_avg_sq`, `square_avg`, `grad_avg`, `sum`); `STATE` lists which exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from lockstep.spec.optimizers import Optimizer


def _sgd(opt: Any, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
    if opt.nesterov and opt.dampening:
        from lockstep.adapters.base import UnsupportedConstruct

        raise UnsupportedConstruct("sgd", "torch.optim.SGD refuses Nesterov momentum with dampening (the standard "
                                          "defines it: docs/spec/v1-semantics.md); set dampening: 0, or run it on "
                                          "the reference or TensorFlow")
    return torch.optim.SGD(params, lr=opt.learning_rate, momentum=opt.momentum, dampening=opt.dampening,
                           nesterov=opt.nesterov, weight_decay=l2, maximize=False)


def _adam(opt: Any, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=opt.learning_rate, betas=(opt.beta1, opt.beta2), eps=opt.epsilon,
                            weight_decay=l2, amsgrad=opt.amsgrad, maximize=False)


def _adamw(opt: Any, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
    """AdamW's weight_decay is the decoupled decay; coupled L2 is added by the session (`coupled_l2_in_session`)."""
    return torch.optim.AdamW(params, lr=opt.learning_rate, betas=(opt.beta1, opt.beta2), eps=opt.epsilon,
                             weight_decay=opt.weight_decay, amsgrad=opt.amsgrad, maximize=False)


def _rmsprop(opt: Any, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=opt.learning_rate, alpha=opt.rho, eps=opt.epsilon, weight_decay=l2,
                               momentum=opt.momentum, centered=opt.centered, maximize=False)


def _adagrad(opt: Any, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(params, lr=opt.learning_rate, lr_decay=0.0, weight_decay=l2, eps=opt.epsilon,
                               initial_accumulator_value=opt.initial_accumulator_value, maximize=False)


OPTIMIZERS: dict[str, Callable[[Any, list[torch.Tensor], float], torch.optim.Optimizer]] = {
    "sgd": _sgd, "adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "adagrad": _adagrad}
"""Each spec optimizer's torch mapping, by name: `fn(opt, params, l2) -> torch.optim optimizer` (l2 is passed as
torch's coupled `weight_decay` where the optimizer has one)."""


def build(opt: Optimizer, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
    if opt.type not in OPTIMIZERS:
        raise KeyError(f"no torch mapping for optimizer `{opt.type}`")
    return OPTIMIZERS[opt.type](opt, params, l2)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def scalars_beyond(group: dict[str, Any], dtype: torch.dtype, l2: float = 0.0) -> bool:
    """Whether torch's step may form a Python scalar beyond float32's range: it converts each scalar it hands a
    kernel (lr, weight_decay, eps, lr/(1 - β₁ᵗ), 1 - lr·wd, the session's coupled l2) to the parameters' dtype and
    raises "value cannot be converted to type float without overflow" on one beyond it. A bound on those scalars,
    not torch's own arithmetic: a step near it runs in float64 (`wide_step`); float64 parameters never raise."""
    if dtype != torch.float32:
        return False
    top = max(abs(float(group.get(k) or 0.0)) for k in ("lr", "weight_decay", "eps", "initial_accumulator_value"))
    betas = group.get("betas")
    gain = 1.0 / (1.0 - float(betas[0])) if betas else 1.0
    return max(top, abs(l2)) * max(gain, 1.0 + abs(float(group.get("weight_decay") or 0.0))) > FLOAT32_MAX / 4


def wide_step(opt: torch.optim.Optimizer, l2: float = 0.0) -> None:
    """torch's own step (its class, hyper-parameters and state) run on float64 copies of the parameters, their
    gradients (plus the session's coupled `l2`·w) and the state, rounded back into them: a value beyond the
    parameters' dtype becomes ±inf, the standard's rule (v1-semantics, "Representable values"), where torch's
    float32 step would raise instead. Taken only where `scalars_beyond` says so (hyper-parameters near 1e38)."""
    params = [p for group in opt.param_groups for p in group["params"]]
    wide = {}
    for p in params:
        w = p.detach().to(torch.float64)
        if p.grad is not None:
            w.grad = p.grad.detach().to(torch.float64) + (l2 * w if l2 else 0.0)
        wide[p] = w
    groups = [{**{k: v for k, v in group.items() if k != "params"}, "params": [wide[p] for p in group["params"]]}
              for group in opt.param_groups]
    twin = type(opt)(groups)
    twin.load_state_dict(opt.state_dict())  # floating state cast to float64, `step` kept
    twin.step()
    with torch.no_grad():
        for p, w in wide.items():
            p.copy_(w)
            state = opt.state[p]
            for key, value in twin.state[w].items():
                if isinstance(value, torch.Tensor) and isinstance(state.get(key), torch.Tensor):
                    state[key].copy_(value)
                elif isinstance(value, torch.Tensor):
                    state[key] = value.to(p.dtype) if value.is_floating_point() and key != "step" else value.clone()
                else:
                    state[key] = value


def coupled_l2_in_session(opt: Optimizer) -> bool:
    """Whether coupled L2 must be added to the gradients outside torch (AdamW's weight_decay is decoupled)."""
    return opt.type == "adamw"


def add_coupled_l2(grads: list[torch.Tensor], params: list[torch.Tensor], l2: float) -> None:
    """g ← g + l2·w in place, after clipping: coupled L2 where the optimizer's weight_decay cannot carry it."""
    with torch.no_grad():
        torch._foreach_add_(grads, params, alpha=l2)


REGULARIZATION: dict[str, str] = {
    "l2": "the optimizer's coupled weight_decay (added inside step(), after the session clipped); AdamW: the "
          "session adds l2·w itself (add_coupled_l2)"}
"""How each spec regularization maps onto torch, by name."""


def state_names(opt: Optimizer) -> tuple[str, ...]:
    """The canonical state names this configuration keeps: the reference's (reference/optimizers/<type>.py)."""
    from lockstep.reference import optimizers as reference

    return tuple(reference.get(opt.type).state_names(opt))


def has_step_count(opt: Optimizer) -> bool:
    """Whether torch keeps a per-parameter `step` tensor in the state (all but SGD)."""
    return opt.type != "sgd"
