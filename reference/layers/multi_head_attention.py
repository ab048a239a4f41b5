"""multi_head_attention: self-attention over [N, T, E] with H heads of d = E / H, no dropout:

Q, K, V = x W_q + b_q, x W_k + b_k, x W_v + b_v          (weights [E, E] in [in, out] layout)
head h takes columns h·d .. (h+1)·d - 1 of each of Q, K, V
A_h = softmax(Q_h K_hᵀ / √d + M), M[i, j] = -∞ for j > i when causal, else 0
y = concat_h(A_h V_h) W_o + b_o
With `rotary` (RoPE), each head's Q_h and K_h are rotated before the scores: row t, pair p = (a, b) of columns,
θ_i = base^(−2i/d):  (q_a, q_b) <- (q_a cos tθ_i − q_b sin tθ_i,  q_b cos tθ_i + q_a sin tθ_i), pairs
(i, i + d/2) for `half_split`, (2i, 2i + 1) for `interleaved`, i = 0 .. d/2 − 1. The backward rotates by −tθ_i.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._magnitude import Mags, absolute, softmax, softmax_backward
from lockstep.reference.layers._rules import FUNCTION_ULPS, PRODUCT_ROUNDING, Shapes, first, no_excess
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.reference.tolerances import gamma, unit_roundoff
from lockstep.spec.layers import MultiHeadAttention, Rotary

_PROJECTIONS = ("query", "key", "value")


def _heads(a: np.ndarray, h: int) -> np.ndarray:
    """[N, T, E] -> [N, H, T, d], head h holding columns h·d .. (h+1)·d - 1."""
    n, t, e = a.shape
    return a.reshape(n, t, h, e // h).transpose(0, 2, 1, 3)


def _merge(a: np.ndarray) -> np.ndarray:
    """[N, H, T, d] -> [N, T, E], the inverse of `_heads`."""
    n, h, t, d = a.shape
    return a.transpose(0, 2, 1, 3).reshape(n, t, h * d)


def rotary_tables(rotary: Rotary, t: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) [T, d] in float64, laid out like a head's columns: column c holds the angle of its pair
    (every backend is handed these tables, rounded once to its dtype)."""
    theta = np.power(float(rotary.base), -2.0 * np.arange(d // 2) / d)
    angle = np.arange(t, dtype=np.float64)[:, None] * theta[None, :]  # [T, d/2]
    wide = (np.concatenate([angle, angle], axis=-1) if rotary.pairing == "half_split"
            else np.repeat(angle, 2, axis=-1))
    return np.cos(wide), np.sin(wide)


def rotate_pairs(a: np.ndarray, pairing: str, *, sign: bool = True) -> np.ndarray:
    """The 90° turn of every pair (a, b) -> (−b, a) over the last axis (`sign` False: the partner, (b, a))."""
    d = a.shape[-1]
    if pairing == "half_split":
        first, second = a[..., : d // 2], a[..., d // 2:]
        return np.concatenate([-second if sign else second, first], axis=-1)
    out = np.empty_like(a)
    out[..., 0::2] = -a[..., 1::2] if sign else a[..., 1::2]
    out[..., 1::2] = a[..., 0::2]
    return out


def _rope(layer: MultiHeadAttention, a: np.ndarray, *, inverse: bool = False) -> np.ndarray:
    """Rotate [N, H, T, d] by +tθ (or −tθ, the transpose, for the backward)."""
    if layer.rotary is None:
        return a
    cos, sin = rotary_tables(layer.rotary, a.shape[2], a.shape[3])
    if inverse:
        return a * cos - rotate_pairs(a * sin, layer.rotary.pairing)
    return a * cos + rotate_pairs(a, layer.rotary.pairing) * sin


def _rope_magnitude(layer: MultiHeadAttention, m: np.ndarray) -> np.ndarray:
    """|cos|·M + |sin|·partner(M): a rotation's error from its input's (own roundings relative, within)."""
    if layer.rotary is None:
        return m
    cos, sin = rotary_tables(layer.rotary, m.shape[2], m.shape[3])
    return np.abs(cos) * m + np.abs(sin) * rotate_pairs(m, layer.rotary.pairing, sign=False)


def _rope_magnitude_backward(layer: MultiHeadAttention, g: np.ndarray) -> np.ndarray:
    """The transpose's magnitude: |cos|·G + partner(|sin|·G)."""
    if layer.rotary is None:
        return g
    cos, sin = rotary_tables(layer.rotary, g.shape[2], g.shape[3])
    return np.abs(cos) * g + rotate_pairs(np.abs(sin) * g, layer.rotary.pairing, sign=False)


def _dense(layer: MultiHeadAttention, params: Params, name: str, a: np.ndarray) -> np.ndarray:
    y = a @ params[f"{name}_weight"]
    return y + params[f"{name}_bias"] if layer.use_bias else y


def forward(layer: MultiHeadAttention, inputs: list[np.ndarray], params: Params, ctx: ForwardContext, *,
            scale: float | None = None) -> tuple[np.ndarray, Cache]:
    """`scale`: the scores' factor, the standard's 1/√d where None (a planted bug passes another:
    conformance/mutants/attention_scale_by_width.py); the backward takes the one the forward cached."""
    (x,) = inputs
    t = x.shape[1]
    h = layer.num_heads
    scale = 1.0 / math.sqrt(x.shape[2] // h) if scale is None else scale
    q, k, v = (_heads(_dense(layer, params, name, x), h) for name in _PROJECTIONS)
    q, k = _rope(layer, q), _rope(layer, k)  # rotary: the rotated ones are cached
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
    dq = _rope(layer, np.einsum("nhij,nhjd->nhid", ds, k), inverse=True)
    dk = _rope(layer, np.einsum("nhij,nhid->nhjd", ds, q), inverse=True)
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
    a_q, a_k = _rope_magnitude(layer, a_q), _rope_magnitude(layer, a_k)
    a_s = (np.einsum("nhid,nhjd->nhij", np.abs(q), a_k) + np.einsum("nhid,nhjd->nhij", a_q, np.abs(k))) * scale
    s = np.einsum("nhid,nhjd->nhij", q, k) * scale
    live = a > 0
    s_max = np.where(live, s, -np.inf).max(axis=-1, keepdims=True)
    a_a = softmax(a, np.where(live, np.abs(s - s_max), 0.0), a_s, -1)
    a_o = _merge(np.einsum("nhij,nhjd->nhid", a_a, np.abs(v)) + np.einsum("nhij,nhjd->nhid", a, a_v))
    return _dense(layer, ap, "output", a_o), (mags[0], a_q, a_k, a_v, a_a, a_o)


def magnitude_backward(layer: MultiHeadAttention, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache,
                       mag_cache: Cache, params: Params) -> Gradients:
    """The backward's products by the rule of docs/spec/v1-semantics.md § Tolerances, with the reference's own
    signals (do, da, ds, as `backward` computes them) beside their magnitudes: a signal δ (magnitude G) times a
    cached value c is |c|·G + |δ|·A_c. G_o = G|W_o|ᵀ; G_A = G_o|V|ᵀ + |do|A_Vᵀ, G_V = aᵀG_o + A_aᵀ|do|; scores:
    the softmax backward rule with the signal da, × scale; G_Q = G_s|K| + |ds|A_K, G_K = G_sᵀ|Q| + |ds|ᵀA_Q
    (rotary: then turned back); weights Σ A_xᵀ G_Q (…), Σ A_oᵀ G; biases Σ G; dx Σ G_Q|W_Q|ᵀ ….
    (G(|c| + A_c), the rule before 2026-12-07, took a signal's bound for its value: G/|δ| compounded through
    the softmax and the scores, to gradient bounds of 1e4 × |g| on tiny-attention and 1e31 on tiny-gpt.)
    With `grad` 0 it carries an absolute error G alone (`_Branches`): then |c|·G."""
    x, q, k, v, a, _, scale, _ = cache
    a_x, a_q, a_k, a_v, a_a, a_o = mag_cache
    e = x.shape[2]
    h = layer.num_heads
    do = _heads(grad @ params["output_weight"].T, h)
    g_do = _heads(grad_mag @ np.abs(params["output_weight"]).T, h)
    da = np.einsum("nhid,nhjd->nhij", do, v)
    g_da = np.einsum("nhid,nhjd->nhij", g_do, np.abs(v)) + np.einsum("nhid,nhjd->nhij", np.abs(do), a_v)
    g_dv = np.einsum("nhij,nhid->nhjd", a, g_do) + np.einsum("nhij,nhid->nhjd", a_a, np.abs(do))
    ds = a * (da - (da * a).sum(axis=-1, keepdims=True)) * scale
    g_ds = softmax_backward(a, a_a, da, g_da, -1) * scale
    abs_ds = np.abs(ds)
    g_dq = _rope_magnitude_backward(layer, np.einsum("nhij,nhjd->nhid", g_ds, np.abs(k))
                                    + np.einsum("nhij,nhjd->nhid", abs_ds, a_k))
    g_dk = _rope_magnitude_backward(layer, np.einsum("nhij,nhid->nhjd", g_ds, np.abs(q))
                                    + np.einsum("nhij,nhid->nhjd", abs_ds, a_q))
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


def own_roundings(layer: MultiHeadAttention, inputs: list[np.ndarray], grad: np.ndarray, params: Params,
                  cache: Cache) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(∂L/∂q, own_q, k_q) for each value q the layer computes, its output's gradient `grad`: the adjoint form of
    the loss's magnitude (reference/error_bounds.py, `_Adjoint`) weighs each operation's own rounding, within
    γ_{k_q}·own_q, by its own gradient. The projections' |x||W| + |b| by the gradients of Q, K, V (before rotary),
    rotary's |cos||q| + |sin||partner(q)|, the scores' |Q||K|ᵀ/√d by ∂L/∂s, the softmax's own by da, AV's a|V| by
    do, the output projection's |o||W_o| + |b_o| by `grad`; each with its own length of `reduction_length`. The
    layer's forward rule taken whole would carry the scores' rounding through the softmax and AV as a magnitude
    first, and charge every operation the whole layer's length: the compounding the form avoids."""
    x, q, k, v, a, o, scale, _ = cache
    h, t, d = layer.num_heads, x.shape[1], x.shape[2] // layer.num_heads
    projection = x.shape[2] + PRODUCT_ROUNDING + 1
    ap = absolute(params)
    do = _heads(grad @ params["output_weight"].T, h)
    da = np.einsum("nhid,nhjd->nhij", do, v)
    dl_ds = a * (da - (da * a).sum(axis=-1, keepdims=True))  # ∂L/∂s, s the scaled scores; masked entries 0
    live = a > 0
    s = np.einsum("nhid,nhjd->nhij", q, k) * scale
    s_max = np.where(live, s, -np.inf).max(axis=-1, keepdims=True)
    out = [(grad, _dense(layer, ap, "output", np.abs(o)), projection),
           (do, np.einsum("nhij,nhjd->nhid", a, np.abs(v)), t),
           (da, softmax(a, np.where(live, np.abs(s - s_max), 0.0), np.zeros_like(a), -1), t + 2 * FUNCTION_ULPS),
           (dl_ds, np.einsum("nhid,nhjd->nhij", np.abs(q), np.abs(k)) * scale, d + 1)]
    before = {"value": np.einsum("nhij,nhid->nhjd", a, do)}
    for name, turned, d_turned in (("query", q, np.einsum("nhij,nhjd->nhid", dl_ds, k) * scale),
                                   ("key", k, np.einsum("nhij,nhid->nhjd", dl_ds, q) * scale)):
        if layer.rotary is not None:  # the tables' rounding, a product, the pair's sum
            out.append((d_turned, _rope_magnitude(layer, np.abs(_rope(layer, turned, inverse=True))), 3))
        before[name] = _rope(layer, d_turned, inverse=True)
    return out + [(_merge(before[name]), _dense(layer, ap, name, np.abs(x)), projection) for name in _PROJECTIONS]


def backward_first_order(layer: MultiHeadAttention, cache: Cache, dtype: str) -> bool:
    """Whether the first-order bounds hold for the gradients through the layer in `dtype` (where not,
    reference/error_bounds.py makes them not representable). A fused kernel's backward (torch's
    scaled_dot_product_attention on CPU) recomputes the scores and exponentiates them against the log-sum-exp the
    forward stored: e^(ŝ − lse), whose exponent is off by up to E = γ_{2d+3}·S + γ_{T+2c_f+2}·(1 + log T), S the
    largest scale·Σ_d |q_d||k_d| of an unmasked pair (each of the two roundings of one score is within γ_{d+1}·S,
    lse's own sum is u|lse| ≤ u(S + log T), its exp, sum and log the second term). The factor e^E is first order
    only while E < 1, as a probability's error must stay below p for log p. Scores of 1e9 (E ≈ 1e3) gave torch
    gradients of inf, or 1e37 where the reference's are 1e9; the reference's own softmax shifts by the row's
    maximum and never forms that factor."""
    return exponent_error(layer, cache, dtype) < 1.0


def exponent_error(layer: MultiHeadAttention, cache: Cache, dtype: str) -> float:
    """E of `backward_first_order`: how far `dtype`'s rounding of the scores and their log-sum-exp may move an
    exponent of the softmax (the loss's adjoint form asks for it to be small, reference/error_bounds.py)."""
    _, q, k, _, _, _, scale, _ = cache
    t, d = q.shape[2], q.shape[3]
    s = np.einsum("nhid,nhjd->nhij", np.abs(q), np.abs(k)) * scale
    if layer.causal:
        s = np.where(np.triu(np.ones((t, t), dtype=bool), k=1), 0.0, s)
    u = unit_roundoff(dtype)
    return gamma(2 * d + 3, u) * float(s.max(initial=0.0)) + gamma(t + 2 * FUNCTION_ULPS + 2, u) * (1.0 + math.log(t))


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: MultiHeadAttention, input_shapes: Shapes, *, training: bool = False,
                     batch: int = 1) -> int:
    """The input and output projections (E products each, rounded factors, + bias), rotary's turn (3), the scores
    over d = E/heads (+ the scale), the softmax over T keys (two functions) and the weighted sum over T values."""
    steps, e = first(input_shapes)
    d = e // layer.num_heads
    rotary = 3 if layer.rotary is not None else 0  # the tables' rounding, a product, the pair's sum
    return 2 * (e + PRODUCT_ROUNDING + 1) + rotary + (d + 1) + (steps + 2 * FUNCTION_ULPS) + steps


def batch_length(layer: MultiHeadAttention, input_shapes: Shapes, batch: int) -> int:
    """Every projection's gradient sums over the batch and the T positions."""
    return batch * first(input_shapes)[0]


backward_excess = no_excess
