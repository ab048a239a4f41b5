"""multi_head_attention -> `SelfAttention`, an nn.MultiheadAttention(batch_first=True) subclass.

torch's math is the standard's (per-head scaled dot product over contiguous E/H columns, no attention
dropout). The subclass only fixes the call: self-attention `attn(x, x, x)`, no attention weights, and
the causal mask (`j > i` masked) as a boolean `attn_mask`. torch fuses the q/k/v projections into
`in_proj_weight` `[3E, E]` (`[out, in]`, rows q, k, v): the canonical `query_weight`, `key_weight`,
`value_weight` (`[in, out]`) are transposed row blocks of it, and their biases slices of `in_proj_bias`.
"""

from __future__ import annotations

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import MultiHeadAttention

PROJECTIONS = ("query", "key", "value")


class SelfAttention(nn.MultiheadAttention):
    """Self-attention over [N, T, E] returning only the output; causal masking when asked."""

    def __init__(self, length: int, embed: int, heads: int, bias: bool, causal: bool, dtype: torch.dtype) -> None:
        super().__init__(embed, heads, dropout=0.0, bias=bias, add_bias_kv=False, add_zero_attn=False,
                         batch_first=True, dtype=dtype)
        self.causal = causal
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1) if causal else None
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out, _ = super().forward(x, x, x, need_weights=False, attn_mask=self.causal_mask)
        return out


def build(layer: MultiHeadAttention, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    t, e = shapes[0]
    return SelfAttention(t, e, layer.num_heads, layer.use_bias, layer.causal, dtype)


def slots(m: SelfAttention) -> Slots:
    e = m.embed_dim
    s = {f"{p}_weight": Slot(m.in_proj_weight, slice(i * e, (i + 1) * e), transpose=True)
         for i, p in enumerate(PROJECTIONS)}
    s["output_weight"] = Slot(m.out_proj.weight, transpose=True)
    if m.in_proj_bias is not None:
        s.update({f"{p}_bias": Slot(m.in_proj_bias, slice(i * e, (i + 1) * e)) for i, p in enumerate(PROJECTIONS)})
        s["output_bias"] = Slot(m.out_proj.bias)
    return s
