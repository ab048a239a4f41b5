"""multi_head_attention -> nn.MultiheadAttention(batch_first=True). torch fuses the q/k/v projections in
`in_proj_weight` [3E, E] ([out, in]); the canonical `query_weight` etc. ([in, out]) are transposed slices
of it. Causal masking uses a boolean attn_mask (True = not allowed)."""

import torch
from torch import nn

from lockstep.adapters.torch.layers._base import Slot, Wrapped


class MHA(Wrapped):
    def __init__(self, layer, shape, dtype) -> None:
        super().__init__()
        t, e = shape
        self.e = e
        self.attn = nn.MultiheadAttention(e, layer.num_heads, bias=layer.use_bias, batch_first=True, dtype=dtype)
        self.causal = layer.causal
        self.register_buffer("mask", torch.triu(torch.ones(t, t, dtype=torch.bool), 1), persistent=False)

    def forward(self, inputs, mask=None):
        x = inputs[0]
        out, _ = self.attn(x, x, x, need_weights=False, attn_mask=self.mask if self.causal else None)
        return out

    def slots(self):
        e, a = self.e, self.attn
        s = {f"{n}_weight": Slot(a.in_proj_weight, slice(i * e, (i + 1) * e), True)
             for i, n in enumerate(("query", "key", "value"))}
        s["output_weight"] = Slot(a.out_proj.weight, None, True)
        if a.in_proj_bias is not None:
            s.update({f"{n}_bias": Slot(a.in_proj_bias, slice(i * e, (i + 1) * e))
                      for i, n in enumerate(("query", "key", "value"))})
            s["output_bias"] = Slot(a.out_proj.bias)
        return s


def build(layer, shapes, dtype):
    return MHA(layer, shapes[0], dtype)
