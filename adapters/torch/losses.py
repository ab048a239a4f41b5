"""Spec losses on native torch.nn.functional losses, built once per session for the output's rank.

Gaps closed here (docs/adapters/torch.md):
- the standard puts the class axis last; torch's cross_entropy / nll_loss want it at dim 1: outputs of
  rank > 2 are read as rows [N·positions, C] (a reshape view; `movedim` to dim 1 would hand the backward
  a strided gradient, which torch 2.13's CPU batch norm mis-reads, see layers/batch_norm.py);
- binary label smoothing (`t(1 - s) + s/2`) has no torch option: targets are smoothed first, by the
  reference's own `smooth` (the formula is stated once, in reference/losses/_common.py);
- from probabilities, F.binary_cross_entropy clamps log at -100 and its gradient's denominator at
  1e-12, and categorical cross-entropy from probabilities has no torch loss; the standard clips
  nothing (p = 0 or 1 under a nonzero weight gives an infinite loss that stops the run), so both are
  `-Σ t log p` written in torch ops, differentiated by autograd. A term whose weight (t, 1 - t, t_c) is
  0 is 0 in value and gradient whatever p is (0 log 0 = 0, v1-semantics § Losses): `_xlogy` masks it
  with two `torch.where`s (torch.xlogy's gradient w/p is NaN at w = p = 0, and so is autograd's through
  a single where: 0 · (1/0));
- targets are reshaped to the prediction's shape only where the data gives a flat target.
Reductions are torch's own `mean` / `sum` over every element (per-sample losses for cross-entropy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from lockstep.reference.losses import smooth

if TYPE_CHECKING:
    from lockstep.spec.losses import Loss

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _same_shape(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return t if t.shape == y.shape else t.reshape(y.shape)


def _reduce(per: torch.Tensor, reduction: str) -> torch.Tensor:
    return per.sum() if reduction == "sum" else per.mean()


def _rows(output_rank: int) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """Positions become rows: [N, ..., C] -> [N·positions, C] (a view), the layout torch's class losses read;
    the mean over rows is the standard's mean over positions. (rows of predictions, flat class targets)"""
    if output_rank <= 2:
        return (lambda v: v), (lambda v: v)
    return (lambda v: v.reshape(-1, v.shape[-1])), (lambda v: v.reshape(-1))


def _mse(loss: Any, output_rank: int) -> LossFn:
    return lambda y, tg: F.mse_loss(y, _same_shape(y, tg), reduction=loss.reduction)


def _mae(loss: Any, output_rank: int) -> LossFn:
    return lambda y, tg: F.l1_loss(y, _same_shape(y, tg), reduction=loss.reduction)


def _huber(loss: Any, output_rank: int) -> LossFn:
    red, delta = loss.reduction, loss.delta
    return lambda y, tg: F.huber_loss(y, _same_shape(y, tg), reduction=red, delta=delta)


def _binary_crossentropy(loss: Any, output_rank: int) -> LossFn:
    red, s = loss.reduction, float(loss.label_smoothing)
    if loss.from_logits:
        return lambda y, tg: F.binary_cross_entropy_with_logits(y, smooth(_same_shape(y, tg), s, 2), reduction=red)
    return lambda y, tg: _reduce(_binary_from_probabilities(y, smooth(_same_shape(y, tg), s, 2)), red)


def _nll(loss: Any, output_rank: int) -> LossFn:
    rows, flat = _rows(output_rank)
    return lambda y, tg: F.nll_loss(rows(y), flat(tg), reduction=loss.reduction)


def _sparse_categorical_crossentropy(loss: Any, output_rank: int) -> LossFn:
    rows, flat = _rows(output_rank)
    red, s = loss.reduction, float(loss.label_smoothing)
    if loss.from_logits:
        return lambda y, tg: F.cross_entropy(rows(y), flat(tg), reduction=red, label_smoothing=s)
    return lambda y, tg: _reduce(_categorical_from_probabilities(y, F.one_hot(tg, y.shape[-1]), s), red)


def _categorical_crossentropy(loss: Any, output_rank: int) -> LossFn:
    rows, _ = _rows(output_rank)
    red, s = loss.reduction, float(loss.label_smoothing)
    if loss.from_logits:
        return lambda y, tg: F.cross_entropy(rows(y), rows(tg), reduction=red, label_smoothing=s)
    return lambda y, tg: _reduce(_categorical_from_probabilities(y, tg, s), red)


LOSSES: dict[str, Callable[[Any, int], LossFn]] = {
    "mse": _mse, "mae": _mae, "huber": _huber, "binary_crossentropy": _binary_crossentropy,
    "categorical_crossentropy": _categorical_crossentropy,
    "sparse_categorical_crossentropy": _sparse_categorical_crossentropy, "nll": _nll,
}
"""Each spec loss's torch mapping, by name: `fn(loss, output_rank) -> fn(prediction, target) -> scalar`."""


def build(loss: Loss, output_rank: int) -> LossFn:
    """`fn(prediction, target) -> scalar loss` for a spec loss and a batched prediction of `output_rank`."""
    if loss.type not in LOSSES:
        raise KeyError(f"no torch mapping for loss `{loss.type}`")
    return LOSSES[loss.type](loss, output_rank)


def _xlogy(w: torch.Tensor, p: torch.Tensor, *, log1p: bool = False) -> torch.Tensor:
    """w·log p (with `log1p`: w·log1p(p)), exactly 0 in value and in both gradients wherever w = 0, whatever p.

    The inner `where` hands log a harmless argument where the term is masked, so its backward (1/p at p = 0:
    inf, times the outer where's 0: NaN) never sees the edge; the outer `where` then gives that element's
    gradient as exactly 0. Native ops only (no custom autograd Function)."""
    masked = w == 0
    safe = torch.where(masked, 0.0 if log1p else 1.0, p)
    return torch.where(masked, 0.0, w * (torch.log1p(safe) if log1p else torch.log(safe)))


def _binary_from_probabilities(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per element -(t log p + (1 - t) log(1 - p)), unclipped (F.binary_cross_entropy clamps); a term of
    weight 0 is 0 (p = 1 under t = 1, p = 0 under t = 0: a saturated sigmoid)."""
    return -(_xlogy(t, p) + _xlogy(1 - t, -p, log1p=True))


def _categorical_from_probabilities(p: torch.Tensor, t: torch.Tensor, s: float) -> torch.Tensor:
    """Per position -Σ_c t_c log p_c with the standard's smoothing (the reference's `smooth`, t(1 - s) + s/C);
    torch has no loss from probabilities. A class of weight t_c = 0 adds 0 whatever p_c is (a softmax row
    saturated to [1, 0])."""
    return -_xlogy(smooth(t.to(p.dtype), s, p.shape[-1]), p).sum(-1)
