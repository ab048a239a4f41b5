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

import torch

if TYPE_CHECKING:
    from lockstep.spec.optimizers import Optimizer


def _sgd(opt: Any, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
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
