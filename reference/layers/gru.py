"""gru over batch-first [N, T, F], gates (r, z, n), reset applied after the recurrent matmul ("reset_after"),
zero initial state, two biases (W_ih [F, 3H], W_hh [H, 3H], b_ih, b_hh [3H]; columns r | z | n):

a_t = x_t W_ih + b_ih;  c_t = h_{t-1} W_hh + b_hh
r = σ(a_r + c_r);  z = σ(a_z + c_z);  n = tanh(a_n + r ⊙ c_n);  h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
Output: h_T [N, H], or every h_t [N, T, H] with return_sequences. (torch's nn.GRU; Keras with
reset_after=True, its default since TF 2, but with gates ordered (z, r, n).)
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.layers._magnitude import Mags, activation, sigmoid_slope, tanh_slope
from lockstep.reference.layers._rules import (
    Shapes,
    recurrent_backward_excess,
    recurrent_batch_length,
    recurrent_reduction_length,
)
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import GRU


def forward(layer: GRU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    n_batch, steps, _ = x.shape
    hs = layer.units
    w_ih, w_hh, b_hh = params["weight_ih"], params["weight_hh"], params["bias_hh"]
    a_all = x @ w_ih + params["bias_ih"]  # the input part for every t at once
    h = np.zeros((n_batch, hs))
    h_prev, states = [], []
    for t in range(steps):
        a = a_all[:, t]
        c = h @ w_hh + b_hh
        r = sigmoid(a[:, :hs] + c[:, :hs])
        z = sigmoid(a[:, hs:2 * hs] + c[:, hs:2 * hs])
        n = np.tanh(a[:, 2 * hs:] + r * c[:, 2 * hs:])
        h_prev.append(h)
        states.append((r, z, n, c[:, 2 * hs:]))
        h = (1.0 - z) * n + z * h
    y = np.stack([*h_prev[1:], h], axis=1) if layer.return_sequences else h
    return y, (x, w_ih, w_hh, np.stack(h_prev, axis=1), states)


def backward(layer: GRU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    """Backpropagation through time; da_t (input side) and dc_t (recurrent side) are kept for the weights."""
    x, w_ih, w_hh, h_prev, states = cache
    n_batch, steps, _ = x.shape
    hs = layer.units
    da_all = np.zeros((n_batch, steps, 3 * hs))
    dc_all = np.zeros((n_batch, steps, 3 * hs))
    dh = np.zeros((n_batch, hs))
    for t in reversed(range(steps)):
        r, z, n, c_n = states[t]
        if layer.return_sequences:
            dh = dh + grad_output[:, t]
        elif t == steps - 1:
            dh = dh + grad_output
        dn = dh * (1.0 - z)
        dz = dh * (h_prev[:, t] - n)
        da_n = dn * (1.0 - n**2)
        da_r = da_n * c_n * r * (1.0 - r)
        da_z = dz * z * (1.0 - z)
        da_all[:, t] = np.concatenate([da_r, da_z, da_n], axis=1)
        dc_all[:, t] = np.concatenate([da_r, da_z, da_n * r], axis=1)
        dh = dh * z + dc_all[:, t] @ w_hh.T
    grads = {
        "weight_ih": np.einsum("ntf,ntg->fg", x, da_all),
        "weight_hh": np.einsum("nth,ntg->hg", h_prev, dc_all),
        "bias_ih": da_all.sum(axis=(0, 1)),
        "bias_hh": dc_all.sum(axis=(0, 1)),
    }
    return [da_all @ w_ih.T], grads


def magnitude(layer: GRU, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """Per step: A_a = A_x|W_ih| + |b_ih|, A_c = A_h|W_hh| + |b_hh|; r, z, n by the activation rule on
    A_a + A_c and A_an + |c_n| A_r + r A_cn; A_h′ = A_z(|h| + |n|) + |1 − z| A_n + z A_h (also n + z(h − n))."""
    _, w_ih, w_hh, h_prev, states = cache
    hs = layer.units
    ab_hh = np.abs(w_hh)
    a_in = mags[0] @ np.abs(w_ih) + np.abs(params["bias_ih"])
    a_h = np.zeros_like(h_prev[:, 0])
    a_hprev, a_states, a_hs = [], [], []
    for t, (r, z, n, c_n) in enumerate(states):
        a_hprev.append(a_h)
        a, a_c = a_in[:, t], a_h @ ab_hh + np.abs(params["bias_hh"])
        a_r = activation(r * (1 - r), a[:, :hs] + a_c[:, :hs], r)
        a_z = activation(z * (1 - z), a[:, hs:2 * hs] + a_c[:, hs:2 * hs], z)
        a_n = activation(1 - n * n, a[:, 2 * hs:] + np.abs(c_n) * a_r + r * a_c[:, 2 * hs:], np.abs(n))
        h = h_prev[:, t]
        a_h = a_z * (np.abs(h) + np.abs(n)) + np.abs(1.0 - z) * a_n + z * a_h
        a_states.append((a_r, a_z, a_n, a_c[:, 2 * hs:]))
        a_hs.append(a_h)
    a_y = np.stack(a_hs, axis=1) if layer.return_sequences else a_h
    return a_y, (mags[0], np.stack(a_hprev, axis=1), a_states)


def magnitude_backward(layer: GRU, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """BPTT on magnitudes, by the backward pass's rules (docs/spec/v1-semantics.md § Tolerances), as lstm's: a
    signal δ (magnitude G) times a cached c is |c|·G + |δ|·A_c (1 − z has magnitude max(A_z, |1 − z|), h − n
    A_h + A_n), a gate derivative f′ gives |f′|·G + |δ|·m(f′), with δ the reference's own signal (dh and the
    gates', carried beside G as `backward` computes them); G_h ← z·G_h + |dh|·A_z + G_c|W_hh|ᵀ; parameter
    gradients Σ A_xᵀ G_a, Σ A_hᵀ G_c, Σ G_a, Σ G_c; dx: G_a|W_ih|ᵀ. (G in place of |δ|, the rule before
    2026-12-07, compounded G/|δ| at every step.) With `grad` 0 it carries an absolute error G alone."""
    x, w_ih, w_hh, h_prev, states = cache
    a_x, a_hprev, a_states = mag_cache
    n_batch, steps, _ = x.shape
    hs = layer.units
    g_a_all = np.zeros((n_batch, steps, 3 * hs))
    g_c_all = np.zeros((n_batch, steps, 3 * hs))
    g_h = np.zeros((n_batch, hs))
    dh = np.zeros((n_batch, hs))  # the signal itself, as `backward` has it
    abs_w_hh = np.abs(w_hh)
    for t in reversed(range(steps)):
        r, z, n, c_n = states[t]
        a_r, a_z, a_n, a_cn = a_states[t]
        if layer.return_sequences:
            g_h, dh = g_h + grad_mag[:, t], dh + grad[:, t]
        elif t == steps - 1:
            g_h, dh = g_h + grad_mag, dh + grad
        diff = h_prev[:, t] - n
        dn, dz = dh * (1.0 - z), dh * diff
        g_dn = g_h * np.abs(1.0 - z) + np.abs(dh) * np.maximum(a_z, np.abs(1.0 - z))
        g_dz = g_h * np.abs(diff) + np.abs(dh) * (a_hprev[:, t] + a_n)
        d_n, m_n = tanh_slope(n, a_n)
        d_r, m_r = sigmoid_slope(r, a_r)
        d_z, m_z = sigmoid_slope(z, a_z)
        da_n = dn * d_n
        g_an = g_dn * np.abs(d_n) + np.abs(dn) * m_n
        da_r = da_n * c_n * d_r
        g_ar = g_an * np.abs(c_n) * d_r + np.abs(da_n) * (a_cn * d_r + np.abs(c_n) * m_r)
        da_z = dz * d_z
        g_az = g_dz * d_z + np.abs(dz) * m_z
        g_a_all[:, t] = np.concatenate([g_ar, g_az, g_an], axis=1)
        g_c_all[:, t] = np.concatenate([g_ar, g_az, g_an * r + np.abs(da_n) * a_r], axis=1)
        dc = np.concatenate([da_r, da_z, da_n * r], axis=1)
        g_h = g_h * z + np.abs(dh) * a_z + g_c_all[:, t] @ abs_w_hh.T
        dh = dh * z + dc @ w_hh.T
    grads = {
        "weight_ih": np.einsum("ntf,ntg->fg", a_x, g_a_all),
        "weight_hh": np.einsum("nth,ntg->hg", a_hprev, g_c_all),
        "bias_ih": g_a_all.sum(axis=(0, 1)),
        "bias_hh": g_c_all.sum(axis=(0, 1)),
    }
    return [g_a_all @ np.abs(w_ih).T], grads


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: GRU, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    return recurrent_reduction_length(layer.units, input_shapes)


def batch_length(layer: GRU, input_shapes: Shapes, batch: int) -> int:
    return recurrent_batch_length(input_shapes, batch)


def backward_excess(layer: GRU, input_shapes: Shapes) -> int:
    """3 gates: the recurrent gradient sums over 3H columns."""
    return recurrent_backward_excess(3, layer.units, input_shapes)
