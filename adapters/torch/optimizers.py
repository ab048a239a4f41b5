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

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from lockstep.spec.optimizers import Optimizer


def build(opt: Optimizer, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
    t = opt.type
    lr = opt.learning_rate
    if t == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=opt.momentum, dampening=opt.dampening,
                               nesterov=opt.nesterov, weight_decay=l2, maximize=False)
    if t in ("adam", "adamw"):
        cls = torch.optim.AdamW if t == "adamw" else torch.optim.Adam
        decay = opt.weight_decay if t == "adamw" else l2
        return cls(params, lr=lr, betas=(opt.beta1, opt.beta2), eps=opt.epsilon, weight_decay=decay,
                   amsgrad=opt.amsgrad, maximize=False)
    if t == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=opt.rho, eps=opt.epsilon, weight_decay=l2,
                                   momentum=opt.momentum, centered=opt.centered, maximize=False)
    if t == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, lr_decay=0.0, weight_decay=l2, eps=opt.epsilon,
                                   initial_accumulator_value=opt.initial_accumulator_value, maximize=False)
    raise KeyError(f"no torch mapping for optimizer `{t}`")


def coupled_l2_in_session(opt: Optimizer) -> bool:
    """Whether coupled L2 must be added to the gradients outside torch (AdamW's weight_decay is decoupled)."""
    return opt.type == "adamw"


def state_names(opt: Optimizer) -> tuple[str, ...]:
    """The canonical state names this configuration keeps (the reference's `init_state` keys)."""
    t = opt.type
    if t == "sgd":
        return ("momentum_buffer",) if opt.momentum > 0 else ()
    if t in ("adam", "adamw"):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if opt.amsgrad else ("exp_avg", "exp_avg_sq")
    if t == "rmsprop":
        return ("square_avg", *(("grad_avg",) if opt.centered else ()),
                *(("momentum_buffer",) if opt.momentum > 0 else ()))
    if t == "adagrad":
        return ("sum",)
    raise KeyError(t)


def has_step_count(opt: Optimizer) -> bool:
    """Whether torch keeps a per-parameter `step` tensor in the state (all but SGD)."""
    return opt.type != "sgd"
