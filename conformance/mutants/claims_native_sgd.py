"""An adapter that claims `native: torch.optim.SGD` while computing something else in one case: with Nesterov
momentum it swaps in a hand-written optimizer whose step looks ahead along the *previous* momentum buffer,
d = g + μ·b_{t-1}, where torch.optim.SGD (and the standard) use the updated one, d = g + μ·b_t.

This is the failure provenance exists to expose: a certificate reading "sgd: native torch.optim.SGD" would pass
off an adapter's own transcription as torch's. Two things catch it at default settings: the suite's sgd check
(updates, Nesterov cases drawn with momentum > 0 and dampening 0) and the provenance test
(tests/test_provenance.py), whose spy on torch.optim.SGD.step sees no call in the Nesterov case. Every other
configuration is the real torch adapter, so its control is `torch` (lockstep-standard[torch]).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import torch

from lockstep.adapters.base import Session
from lockstep.adapters.torch import TorchAdapter, optimizers


class HandWrittenNesterovSGD(torch.optim.Optimizer):
    """SGD with momentum written by hand, state key `momentum_buffer` as torch's; the planted bug: Nesterov
    looks ahead along the buffer before this step's update."""

    def __init__(self, params: Any, lr: float, momentum: float, dampening: float, weight_decay: float) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            mu, lr = group["momentum"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p if group["weight_decay"] else p.grad
                state = self.state[p]
                old = state.get("momentum_buffer")
                buf = g.clone() if old is None else mu * old + (1 - group["dampening"]) * g
                d = g + mu * (old if old is not None else torch.zeros_like(g))  # the bug: b_{t-1}, not b_t
                state["momentum_buffer"] = buf
                p.add_(d, alpha=-lr)


class ClaimsNativeSGDAdapter(TorchAdapter):
    """The torch adapter, still declaring `sgd` native torch.optim.SGD, with the hand-written Nesterov case."""

    name = "mutant-claims_native_sgd"

    def versions(self) -> dict[str, str]:
        return {**super().versions(), "mutant": self.name}

    def build(self, *args: Any, **kwargs: Any) -> Session:
        original = optimizers.OPTIMIZERS["sgd"]

        def sgd(opt: Any, params: list[torch.Tensor], l2: float) -> torch.optim.Optimizer:
            if opt.momentum > 0 and opt.nesterov:
                return HandWrittenNesterovSGD(params, opt.learning_rate, opt.momentum, opt.dampening, l2)
            return original(opt, params, l2)

        with mock.patch.dict(optimizers.OPTIMIZERS, {"sgd": sgd}):
            return super().build(*args, **kwargs)
