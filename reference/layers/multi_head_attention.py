"""multi_head_attention: self-attention over [N, T, E] with H heads of d = E / H, no dropout:

Q, K, V = x W_q + b_q, x W_k + b_k, x W_v + b_v          (weights [E, E] in [in, out] layout)
head h takes columns h·d .. (h+1)·d - 1 of each of Q, K, V
A_h = softmax(Q_h K_hᵀ / √d + M), M[i, j] = -∞ for j > i when causal, else 0
y = concat_h(A_h V_h) W_o + b_o
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags, absolute, softmax, softmax_backward
from lockstep.reference.layers._rules import FUNCTION_ULPS, PRODUCT_ROUNDING, Shapes, first, no_excess
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import MultiHeadAttention

_PROJECTIONS = ("query", "key", "value")


def _heads(a: np.ndarray, h: int) -> np.ndarray:
    """[N, T, E] -> [N, H, T, d], head h holding columns h·d .. (h+1)·d - 1."""
    n, t, e = a.shape
    return a.reshape(n, t, h, e // h).transpose(0, 2, 1, 3)


def _merge(a: np.ndarray) -> np.ndarray:
    """[N, H, T, d] -> [N, T, E], the inverse of `_heads`."""
    n, h, t, d = a.shape
    return a.transpose(0, 2, 1, 3).reshape(n, t, h * d)


def _dense(layer: MultiHeadAttention, params: Params, name: str, a: np.ndarray) -> np.ndarray:
    y = a @ params[f"{name}_weight"]
    return y + params[f"{name}_bias"] if layer.use_bias else y


def forward(layer: MultiHeadAttention, inputs: list[np.ndarray], params: Params, ctx: ForwardContext
            ) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    t = x.shape[1]
    h = layer.num_heads
    scale = 1.0 / math.sqrt(x.shape[2] // h)
    q, k, v = (_heads(_dense(layer, params, name, x), h) for name in _PROJECTIONS)
    s = np.einsum("nhid,nhjd->nhij", q, k) * scale
    if layer.causal:  # the diagonal is always allowed, so no row is all -inf
        s = np.where(np.triu(np.ones((t, t), dtype=bool), k=1), -np.inf, s)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    a = e / e.sum(axis=-1, keepdims=True)
    o = _merge(np.einsum("nhij,nhjd->nhid", a, v))
    return _dense(layer, params, "output", o), (x, q, k, v, a, o, scale, params)


def backward(layer: MultiHeadAttention, grad_output: np.ndarray, cache: Cache) -> Gradients:
    x, q, k, v, a, o, scale, params = cache
    e = x.shape[2]
    h = layer.num_heads
    do = _heads(grad_output @ params["output_weight"].T, h)
    da = np.einsum("nhid,nhjd->nhij", do, v)
    dv = np.einsum("nhij,nhid->nhjd", a, do)
    ds = a * (da - (da * a).sum(axis=-1, keepdims=True)) * scale  # softmax backward; masked entries have a = 0
    dq = np.einsum("nhij,nhjd->nhid", ds, k)
    dk = np.einsum("nhij,nhid->nhjd", ds, q)
    x2 = x.reshape(-1, e)
    dx = np.zeros(x.shape)
    grads: Params = {}
    for name, d_heads in zip(_PROJECTIONS, (dq, dk, dv), strict=True):
        d2 = _merge(d_heads).reshape(-1, e)
        grads[f"{name}_weight"] = x2.T @ d2
        if layer.use_bias:
            grads[f"{name}_bias"] = d2.sum(axis=0)
        dx += (d2 @ params[f"{name}_weight"].T).reshape(x.shape)
    g2 = grad_output.reshape(-1, e)
    grads["output_weight"] = o.reshape(-1, e).T @ g2
    if layer.use_bias:
        grads["output_bias"] = g2.sum(axis=0)
    return [dx], grads


def magnitude(layer: MultiHeadAttention, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """Projections A_x|W| + |b|; scores scale·(|Q| A_Kᵀ + A_Q |K|ᵀ); the softmax rule per row (masked
    entries 0); A_o = A_a|V| + a A_V; output A_o|W_o| + |b_o|."""
    _, q, k, v, a, _, scale, _ = cache
    h = layer.num_heads
    ap = absolute(params)
    a_q, a_k, a_v = (_heads(_dense(layer, ap, name, mags[0]), h) for name in _PROJECTIONS)
    a_s = (np.einsum("nhid,nhjd->nhij", np.abs(q), a_k) + np.einsum("nhid,nhjd->nhij", a_q, np.abs(k))) * scale
    s = np.einsum("nhid,nhjd->nhij", q, k) * scale
    live = a > 0
    s_max = np.where(live, s, -np.inf).max(axis=-1, keepdims=True)
    a_a = softmax(a, np.where(live, np.abs(s - s_max), 0.0), a_s, -1)
    a_o = _merge(np.einsum("nhij,nhjd->nhid", a_a, np.abs(v)) + np.einsum("nhij,nhjd->nhid", a, a_v))
    return _dense(layer, ap, "output", a_o), (mags[0], a_q, a_k, a_v, a_a, a_o)


def magnitude_backward(layer: MultiHeadAttention, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache,
                       mag_cache: Cache, params: Params) -> Gradients:
    """G_o = G|W_o|ᵀ; G_A = G_o(|V| + A_V)ᵀ, G_V = (a + A_a)ᵀ G_o; scores: the softmax backward rule × scale;
    G_Q = G_s(|K| + A_K), G_K = G_sᵀ(|Q| + A_Q); weights Σ A_xᵀ G_Q (…), A_oᵀ G; biases Σ G; dx Σ G_Q|W_Q|ᵀ …."""
    x, q, k, v, a, _, scale, _ = cache
    a_x, a_q, a_k, a_v, a_a, a_o = mag_cache
    e = x.shape[2]
    h = layer.num_heads
    g_do = _heads(grad_mag @ np.abs(params["output_weight"]).T, h)
    g_da = np.einsum("nhid,nhjd->nhij", g_do, np.abs(v) + a_v)
    g_dv = np.einsum("nhij,nhid->nhjd", a + a_a, g_do)
    g_ds = softmax_backward(a, a_a, None, g_da, -1) * scale
    g_dq = np.einsum("nhij,nhjd->nhid", g_ds, np.abs(k) + a_k)
    g_dk = np.einsum("nhij,nhid->nhjd", g_ds, np.abs(q) + a_q)
    a_x2 = a_x.reshape(-1, e)
    g_x = np.zeros(x.shape)
    grads: Params = {}
    for name, d_heads in zip(_PROJECTIONS, (g_dq, g_dk, g_dv), strict=True):
        d2 = _merge(d_heads).reshape(-1, e)
        grads[f"{name}_weight"] = a_x2.T @ d2
        if layer.use_bias:
            grads[f"{name}_bias"] = d2.sum(axis=0)
        g_x += (d2 @ np.abs(params[f"{name}_weight"]).T).reshape(x.shape)
    g2 = grad_mag.reshape(-1, e)
    grads["output_weight"] = a_o.reshape(-1, e).T @ g2
    if layer.use_bias:
        grads["output_bias"] = g2.sum(axis=0)
    return [g_x], grads


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: MultiHeadAttention, input_shapes: Shapes, *, training: bool = False,
                     batch: int = 1) -> int:
    """The input and output projections (E products each, rounded factors, + bias), the scores over d = E/heads
    (+ the scale), the softmax over T keys (two functions) and the weighted sum over T values."""
    steps, e = first(input_shapes)
    d = e // layer.num_heads
    return 2 * (e + PRODUCT_ROUNDING + 1) + (d + 1) + (steps + 2 * FUNCTION_ULPS) + steps


def batch_length(layer: MultiHeadAttention, input_shapes: Shapes, batch: int) -> int:
    """Every projection's gradient sums over the batch and the T positions."""
    return batch * first(input_shapes)[0]


backward_excess = no_excess
