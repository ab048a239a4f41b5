"""multi_head_attention -> `SelfAttention`, an nn.MultiheadAttention(batch_first=True) subclass.

torch's math is the standard's (per-head scaled dot product over contiguous E/H columns, no attention
dropout). The subclass only fixes the call: self-attention `attn(x, x, x)`, no attention weights, and
the causal mask (`j > i` masked) as a boolean `attn_mask`. torch fuses the q/k/v projections into
`in_proj_weight` `[3E, E]` (`[out, in]`, rows q, k, v): the canonical `query_weight`, `key_weight`,
`value_weight` (`[in, out]`) are transposed row blocks of it, and their biases slices of `in_proj_bias`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Slots
from lockstep.reference.layers.multi_head_attention import rotary_tables
from lockstep.spec.base import Shape
from lockstep.spec.layers import MultiHeadAttention, Rotary

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


class RotarySelfAttention(SelfAttention):
    """With `rotary`: torch's MultiheadAttention cannot rotate between its projections and its scores, so this
    keeps its parameters (same slots) and runs its steps itself: the native projections (`F.linear` on the
    fused `in_proj_weight`), the standard's rotation of q and k (cos/sin tables from the reference in float64,
    rounded once to the dtype: a float32 angle t·θ would drift with t), then the native
    `F.scaled_dot_product_attention` and `out_proj`."""

    def __init__(self, length: int, embed: int, heads: int, bias: bool, causal: bool, dtype: torch.dtype,
                 rotary: Rotary) -> None:
        super().__init__(length, embed, heads, bias, causal, dtype)
        self.pairing = rotary.pairing
        cos, sin = rotary_tables(rotary, length, embed // heads)
        self.register_buffer("cos", torch.from_numpy(cos).to(dtype), persistent=False)
        self.register_buffer("sin", torch.from_numpy(sin).to(dtype), persistent=False)

    def _turn(self, a: torch.Tensor) -> torch.Tensor:
        """(a, b) -> (−b, a) over the pairs of the last axis."""
        d = a.shape[-1]
        if self.pairing == "half_split":
            return torch.cat([-a[..., d // 2:], a[..., : d // 2]], dim=-1)
        return torch.stack([-a[..., 1::2], a[..., 0::2]], dim=-1).flatten(-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, t, e = x.shape
        h = self.num_heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (a.reshape(n, t, h, e // h).transpose(1, 2) for a in (q, k, v))  # [N, H, T, d]
        q, k = (a * self.cos + self._turn(a) * self.sin for a in (q, k))
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=self.causal)
        return self.out_proj(o.transpose(1, 2).reshape(n, t, e))


def build(layer: MultiHeadAttention, shapes: list[Shape], dtype: torch.dtype) -> nn.Module:
    t, e = shapes[0]
    if layer.rotary is not None:
        return RotarySelfAttention(t, e, layer.num_heads, layer.use_bias, layer.causal, dtype, layer.rotary)
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
