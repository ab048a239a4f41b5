"""Spec losses on native torch.nn.functional losses.

Divergences closed here: cross-entropy takes the class axis at dim 1 in torch (moved from last);
binary label smoothing (t(1 - s) + s/2) has no torch option, so targets are smoothed before the native
loss; categorical cross-entropy from probabilities has no native loss and is -Σ t log p with torch ops.
torch's binary_cross_entropy clamps log at -100 where the standard does not clip: identical for p in
(e^-100, 1 - e^-100)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _class_dim_1(y: torch.Tensor) -> torch.Tensor:
    return y if y.dim() == 2 else y.movedim(-1, 1)


def _reduce(per: torch.Tensor, reduction: str) -> torch.Tensor:
    return per.sum() if reduction == "sum" else per.mean()


def build(loss):
    t, red = loss.type, loss.reduction
    if t == "mse":
        return lambda y, tg: F.mse_loss(y, tg.reshape(y.shape), reduction=red)
    if t == "mae":
        return lambda y, tg: F.l1_loss(y, tg.reshape(y.shape), reduction=red)
    if t == "huber":
        return lambda y, tg: F.huber_loss(y, tg.reshape(y.shape), reduction=red, delta=loss.delta)
    s = getattr(loss, "label_smoothing", 0.0)
    if t == "binary_crossentropy":
        fn = F.binary_cross_entropy_with_logits if loss.from_logits else F.binary_cross_entropy
        return lambda y, tg: fn(y, tg.reshape(y.shape) * (1 - s) + 0.5 * s, reduction=red)
    if t == "nll":
        return lambda y, tg: F.nll_loss(_class_dim_1(y), tg, reduction=red)
    if t == "sparse_categorical_crossentropy":
        if loss.from_logits:
            return lambda y, tg: F.cross_entropy(_class_dim_1(y), tg, reduction=red, label_smoothing=s)
        return lambda y, tg: _prob_ce(y, F.one_hot(tg, y.shape[-1]).to(y.dtype), s, red)
    if t == "categorical_crossentropy":
        if loss.from_logits:
            return lambda y, tg: F.cross_entropy(_class_dim_1(y), _class_dim_1(tg), reduction=red, label_smoothing=s)
        return lambda y, tg: _prob_ce(y, tg, s, red)
    raise KeyError(t)


def _prob_ce(p: torch.Tensor, t: torch.Tensor, s: float, red: str) -> torch.Tensor:
    t = t * (1 - s) + s / p.shape[-1]
    return _reduce(-(t * torch.log(p)).sum(-1), red)
