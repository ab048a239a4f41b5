"""lstm over batch-first [N, T, F], gates in the order (i, f, g, o), zero initial state, one bias [4H]:

z_t = x_t W_ih + h_{t-1} W_hh + b      (W_ih [F, 4H], W_hh [H, 4H]; columns i | f | g | o)
i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
Output: h_T [N, H], or every h_t [N, T, H] with return_sequences.
torch keeps two biases (their sum is b); Keras keeps one and the same gate order (it calls g c).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import LSTM


def forward(layer: LSTM, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    n, steps, _ = x.shape
    hs = layer.units
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    x_proj = x @ w_ih + params["bias"]  # the input part of z_t for every t at once
    h, c = np.zeros((n, hs)), np.zeros((n, hs))
    h_prev, c_prev, gates, tanh_c = [], [], [], []
    for t in range(steps):
        z = x_proj[:, t] + h @ w_hh
        i, f = sigmoid(z[:, :hs]), sigmoid(z[:, hs:2 * hs])
        g, o = np.tanh(z[:, 2 * hs:3 * hs]), sigmoid(z[:, 3 * hs:])
        h_prev.append(h)
        c_prev.append(c)
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        gates.append((i, f, g, o))
        tanh_c.append(tc)
    hs_all = np.stack([*h_prev[1:], h], axis=1)  # h_1 .. h_T
    y = hs_all if layer.return_sequences else h
    return y, (x, w_ih, w_hh, np.stack(h_prev, axis=1), c_prev, gates, tanh_c)


def backward(layer: LSTM, grad_output: np.ndarray, cache: Cache) -> Gradients:
    """Backpropagation through time: dh and dc flow from step t to t-1; dz_t is kept for the weights."""
    x, w_ih, w_hh, h_prev, c_prev, gates, tanh_c = cache
    n, steps, _ = x.shape
    hs = layer.units
    dz_all = np.zeros((n, steps, 4 * hs))
    dh, dc = np.zeros((n, hs)), np.zeros((n, hs))
    for t in reversed(range(steps)):
        i, f, g, o = gates[t]
        if layer.return_sequences:
            dh = dh + grad_output[:, t]
        elif t == steps - 1:
            dh = dh + grad_output
        do = dh * tanh_c[t]
        dc = dc + dh * o * (1.0 - tanh_c[t] ** 2)
        di, df, dg = dc * g, dc * c_prev[t], dc * i
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
        dz_all[:, t] = dz
        dh = dz @ w_hh.T
        dc = dc * f
    grads = {
        "weight_ih": np.einsum("ntf,ntg->fg", x, dz_all),
        "weight_hh": np.einsum("nth,ntg->hg", h_prev, dz_all),
        "bias": dz_all.sum(axis=(0, 1)),
    }
    return [dz_all @ w_ih.T], grads
