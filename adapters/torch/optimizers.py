"""Spec optimizers on native torch.optim (foreach=False). torch's formulation is the standard's:
state names are already canonical. Coupled L2 is torch's `weight_decay` (added to the gradient inside
step(), after clipping) — except for AdamW, whose weight_decay is the decoupled one; there the
session adds l2·w to the gradient itself."""

from __future__ import annotations

import torch


def build(opt, params, l2: float) -> torch.optim.Optimizer:
    t = opt.type
    if t == "sgd":
        return torch.optim.SGD(params, lr=opt.learning_rate, momentum=opt.momentum, dampening=opt.dampening,
                               nesterov=opt.nesterov, weight_decay=l2, foreach=False)
    if t == "adam":
        return torch.optim.Adam(params, lr=opt.learning_rate, betas=(opt.beta1, opt.beta2), eps=opt.epsilon,
                                amsgrad=opt.amsgrad, weight_decay=l2, foreach=False)
    if t == "adamw":
        return torch.optim.AdamW(params, lr=opt.learning_rate, betas=(opt.beta1, opt.beta2), eps=opt.epsilon,
                                 amsgrad=opt.amsgrad, weight_decay=opt.weight_decay, foreach=False)
    if t == "rmsprop":
        return torch.optim.RMSprop(params, lr=opt.learning_rate, alpha=opt.rho, eps=opt.epsilon,
                                   momentum=opt.momentum, centered=opt.centered, weight_decay=l2, foreach=False)
    if t == "adagrad":
        return torch.optim.Adagrad(params, lr=opt.learning_rate, eps=opt.epsilon,
                                   initial_accumulator_value=opt.initial_accumulator_value, weight_decay=l2,
                                   foreach=False)
    raise KeyError(t)


def coupled_l2_outside(opt) -> bool:
    return opt.type == "adamw"
