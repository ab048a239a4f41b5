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
