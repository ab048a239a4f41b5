"""Spec learning-rate schedules on native torch.optim.lr_scheduler, stepped once per optimizer step.

| spec | torch |
| --- | --- |
| constant | no scheduler (ConstantLR(1.0) after a warm-up) |
| step | StepLR(step_size, gamma) |
| exponential | ExponentialLR(gamma) |
| cosine | `HeldCosineAnnealingLR`: CosineAnnealingLR(T_max, eta_min) that holds eta_min after T_max |
| warm-up (W steps from f) | LinearLR(f, 1.0, W); LambdaLR(t / W) when f = 0; then SequentialLR(milestones=[W]) |

Gaps closed: CosineAnnealingLR is periodic past T_max (it rises again) where the standard holds the
minimum: the subclass returns eta_min for t > T_max. LinearLR rejects start_factor 0 (its recursive form
divides by the previous factor), and the standard's default warm-up starts at 0: a LambdaLR over the
reference's closed form (reference/schedules/warmup.py's `factor`, t / W from 0) takes its place. torch's
schedulers are recursive (each rate is the previous times a factor); they agree with the standard's closed
forms to a few ulps (tests/backends/torch_specific/test_torch_training.py). A resumed run
replays the scheduler up to its step, so its rates are bit-identical to an uninterrupted run's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch.optim import lr_scheduler as sched

from lockstep.reference.schedules import warmup as ref_warmup

if TYPE_CHECKING:
    from lockstep.spec.schedules import Schedule, Warmup


class HeldCosineAnnealingLR(sched.CosineAnnealingLR):
    """CosineAnnealingLR that stays at eta_min after T_max (the standard's cosine), instead of rising."""

    def get_lr(self) -> list[float]:  # type: ignore[override]
        if self.last_epoch > self.T_max:
            return [self.eta_min for _ in self.optimizer.param_groups]
        return super().get_lr()  # type: ignore[return-value]

    def _get_closed_form_lr(self) -> list[float]:
        if self.last_epoch > self.T_max:
            return [self.eta_min for _ in self.base_lrs]
        return super()._get_closed_form_lr()  # type: ignore[return-value]


def _warmup(warmup: Warmup, opt: torch.optim.Optimizer) -> sched.LRScheduler:
    """LinearLR from f; from 0 (LinearLR refuses it) LambdaLR over the reference's warm-up factor."""
    w, f = warmup.steps, warmup.start_factor
    if f > 0:
        return sched.LinearLR(opt, start_factor=f, end_factor=1.0, total_iters=w)
    return sched.LambdaLR(opt, lambda t: ref_warmup.factor(warmup, t) if t < w else 1.0)


SCHEDULES: dict[str, Callable[[Any, torch.optim.Optimizer], sched.LRScheduler | None]] = {
    "constant": lambda s, opt: None,
    "step": lambda s, opt: sched.StepLR(opt, step_size=s.step_size, gamma=s.gamma),
    "exponential": lambda s, opt: sched.ExponentialLR(opt, gamma=s.gamma),
    "cosine": lambda s, opt: HeldCosineAnnealingLR(opt, T_max=s.decay_steps, eta_min=s.min_learning_rate),
    "warmup": _warmup,
}
"""Each schedule's (and the warm-up's) torch scheduler, by spec name: `fn(schedule or warmup, optimizer)`."""


def _main(schedule: Schedule, opt: torch.optim.Optimizer) -> sched.LRScheduler | None:
    if schedule.type not in SCHEDULES:
        raise KeyError(f"no torch mapping for schedule `{schedule.type}`")
    return SCHEDULES[schedule.type](schedule, opt)


def build(schedule: Schedule, opt: torch.optim.Optimizer) -> sched.LRScheduler | None:
    """The scheduler for `schedule` on `opt` (whose lr is the base rate), or None for a constant rate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SequentialLR's constructor-time stepping notices
        main = _main(schedule, opt)
        if schedule.warmup is None:
            return main
        warm = SCHEDULES["warmup"](schedule.warmup, opt)
        if main is None:  # hold the base rate exactly after the warm-up (LinearLR's recursion ends within ulps)
            main = sched.ConstantLR(opt, factor=1.0, total_iters=0)
        return sched.SequentialLR(opt, [warm, main], milestones=[schedule.warmup.steps])


def fast_forward(scheduler: sched.LRScheduler | None, steps: int) -> None:
    """Advance a fresh scheduler by `steps` optimizer steps (resume), exactly as training would have."""
    if scheduler is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "scheduler.step() before optimizer.step()"
        for _ in range(steps):
            scheduler.step()
