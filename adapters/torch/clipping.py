"""Gradient clipping on torch.nn.utils, and the non-finite check that precedes it.

Global norm: the standard scales by exactly min(1, c / ||g||); torch's clip_grads_with_norm_ scales by
c / (||g|| + 1e-6). The session computes ||g|| natively (`get_total_norm`, needed anyway to report it)
and, only when ||g|| > c, calls clip_grads_with_norm_ with max_norm c (||g|| + 1e-6) / ||g||, which
cancels torch's epsilon (to rounding). By value: clip_grad_value_ is the standard's clip(g, -c, c).

Non-finite gradients must stop a step before anything changes. With global-norm clipping the norm is
non-finite then, and also where `get_total_norm`'s sum of squares overflows although the norm does not
(float32 gradients whose norm is above 2^64: torch sums the squares in the gradients' dtype); there, and
only there, `scaled_norm` computes it again natively on the gradients scaled by a power of two (exact), so
finite gradients stop a step only when their norm itself is beyond the dtype, as the standard says. The same
where the squares underflow (a norm below `SMALL_NORM`: float32 gradients below 2^-63 square into the
subnormals, below 2^-75 to 0), where the standard's norm is still the true one.
Otherwise the check is the one torch's own GradScaler runs: one fused
`_amp_foreach_non_finite_check_and_unscale_` over all gradients with scale 1 (a no-op multiply).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

EPS = 1e-6  # torch.nn.utils.clip_grads_with_norm_'s epsilon
SMALL_NORM = {torch.float32: 2.0 ** -60, torch.float64: 2.0 ** -500}
"""A norm below this may come from squares that lost bits as subnormals, or vanished: computed again scaled."""


def total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0, error_if_nonfinite=False)


def scaled_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """‖g‖ of finite gradients whose sum of squares overflowed: get_total_norm of g·2⁻ᵉ (2ᵉ above the largest
    |g|), times 2ᵉ on the host in float64, then in the gradients' dtype (inf only if ‖g‖ is beyond it)."""
    top = max((float(g.abs().max()) for g in grads if g.numel()), default=0.0)
    e = math.frexp(top)[1]
    root = float(total_norm([torch.ldexp(g, torch.tensor(-e, device=g.device)) for g in grads]))
    try:
        value = math.ldexp(root, e)
    except OverflowError:
        value = math.inf
    return torch.tensor(value, dtype=grads[0].dtype, device=grads[0].device)


def true_norm(grads: list[torch.Tensor], norm: torch.Tensor, norm_value: float) -> tuple[torch.Tensor, float]:
    """(‖g‖, its value) as the standard means it, from get_total_norm's: again on the gradients scaled by a power
    of two where its sum of squares overflowed (finite gradients) or underflowed (a norm below SMALL_NORM)."""
    small = 0.0 <= norm_value < SMALL_NORM.get(grads[0].dtype, 0.0)
    if small or (not math.isfinite(norm_value) and all(bool(torch.isfinite(g).all()) for g in grads)):
        norm = scaled_norm(grads)
        return norm, norm.item()
    return norm, norm_value


def clip_to_norm(params: list[torch.Tensor], max_norm: float, norm: torch.Tensor, norm_value: float) -> None:
    """g <- g c / ||g|| when ||g|| > c (the caller checked), torch's epsilon cancelled."""
    torch.nn.utils.clip_grads_with_norm_(params, max_norm * (norm_value + EPS) / norm_value, norm)


def clip_by_value(params: list[torch.Tensor], clip_value: float) -> None:
    """clip(g, -c, c); a c beyond the gradients' dtype clips nothing (torch would raise converting it)."""
    grads = [p.grad for p in params if p.grad is not None]
    if grads and clip_value > torch.finfo(grads[0].dtype).max:
        return
    torch.nn.utils.clip_grad_value_(params, clip_value)


def _global_norm(params: list[torch.Tensor], clipping: Any, norm: torch.Tensor, norm_value: float) -> None:
    if norm_value > clipping.max_norm:
        clip_to_norm(params, clipping.max_norm, norm, norm_value)


CLIPPING: dict[str, Callable[[list[torch.Tensor], Any, Any, float], None]] = {
    "global_norm": _global_norm,
    "value": lambda params, clipping, norm, norm_value: clip_by_value(params, clipping.clip_value),
}
"""Each spec clipping's torch mapping, by name: `fn(params, clipping, norm tensor, norm value)`, in place on the
gradients (the norm is the one the step computed for its non-finite check; value clipping does not read it)."""


def clip(params: list[torch.Tensor], clipping: Any, norm: Any, norm_value: float) -> None:
    """Clip the parameters' gradients in place as the recipe's `gradient_clipping` says."""
    if clipping.type not in CLIPPING:
        raise KeyError(f"no torch mapping for clipping `{clipping.type}`")
    CLIPPING[clipping.type](params, clipping, norm, norm_value)


class NonFiniteCheck:
    """found_inf = any gradient holds inf or NaN, on the gradients' device, without a host sync."""

    def __init__(self, device: torch.device) -> None:
        self.found = torch.zeros(1, dtype=torch.float32, device=device)
        self.one = torch.ones(1, dtype=torch.float32, device=device)
        self.fused = hasattr(torch, "_amp_foreach_non_finite_check_and_unscale_")

    def __call__(self, grads: list[torch.Tensor]) -> torch.Tensor:
        if not self.fused:  # fall back to the public norm
            return (~torch.isfinite(total_norm(grads))).to(torch.float32).reshape(1)
        self.found.zero_()  # one session: every gradient shares one dtype and device
        torch._amp_foreach_non_finite_check_and_unscale_(grads, self.found, self.one)
        return self.found
