"""multi_head_attention (self-attention over [N, T, E]):

Q, K, V = x W_q + b_q, x W_k + b_k, x W_v + b_v, split into H heads of d = E/H contiguous columns;
A = softmax(Q K^T / sqrt(d) + M) with M = -inf above the diagonal when causal; y = concat(A V) W_o + b_o.
"""

import numpy as np


def _split(a, n, t, h):
    return a.reshape(n, t, h, -1).transpose(0, 2, 1, 3)  # [N, H, T, d]


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    n, t, e = x.shape
    h = layer.num_heads
    d = e // h

    def proj(name, a):
        y = a @ params[f"{name}_weight"]
        return y + params[f"{name}_bias"] if layer.use_bias else y

    q, k, v = (_split(proj(p, x), n, t, h) for p in ("query", "key", "value"))
    s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
    if layer.causal:
        s = np.where(np.triu(np.ones((t, t), dtype=bool), 1), -np.inf, s)
    s = s - s.max(axis=-1, keepdims=True)
    a = np.exp(s)
    a /= a.sum(axis=-1, keepdims=True)
    o = (a @ v).transpose(0, 2, 1, 3).reshape(n, t, e)
    return proj("output", o), (x, q, k, v, a, o, params)


def backward(layer, g, cache):
    x, q, k, v, a, o, params = cache
    n, t, e = x.shape
    h = layer.num_heads
    d = e // h
    grads = {}
    x2, o2, g2 = x.reshape(-1, e), o.reshape(-1, e), g.reshape(-1, e)
    grads["output_weight"] = o2.T @ g2
    do = _split(g @ params["output_weight"].T, n, t, h)
    da = do @ v.transpose(0, 1, 3, 2)
    dv = a.transpose(0, 1, 3, 2) @ do
    ds = a * (da - (da * a).sum(axis=-1, keepdims=True)) / np.sqrt(d)
    dq = ds @ k
    dk = ds.transpose(0, 1, 3, 2) @ q
    dx = np.zeros_like(x, dtype=np.float64)
    for name, dp in (("query", dq), ("key", dk), ("value", dv)):
        dp2 = dp.transpose(0, 2, 1, 3).reshape(-1, e)
        grads[f"{name}_weight"] = x2.T @ dp2
        if layer.use_bias:
            grads[f"{name}_bias"] = dp2.sum(axis=0)
        dx += (dp2 @ params[f"{name}_weight"].T).reshape(n, t, e)
    if layer.use_bias:
        grads["output_bias"] = g2.sum(axis=0)
    return [dx], grads
