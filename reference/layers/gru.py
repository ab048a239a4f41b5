"""gru, gates (r, z, n), reset applied after the recurrent matmul, zero initial state, [N, T, F]:

a = x_t W_ih + b_ih;  c = h_{t-1} W_hh + b_hh;  r = σ(a_r + c_r);  z = σ(a_z + c_z)
n = tanh(a_n + r ⊙ c_n);  h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}.
"""

import numpy as np

from lockstep.reference.layers._act import sigmoid


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    n, t_len, _ = x.shape
    hs = layer.units
    wih, whh, bih, bhh = params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"]
    h = np.zeros((n, hs))
    steps, outs = [], []
    for t in range(t_len):
        a = x[:, t] @ wih + bih
        c = h @ whh + bhh
        r = sigmoid(a[:, :hs] + c[:, :hs])
        z = sigmoid(a[:, hs:2 * hs] + c[:, hs:2 * hs])
        nn = np.tanh(a[:, 2 * hs:] + r * c[:, 2 * hs:])
        steps.append((h, r, z, nn, c[:, 2 * hs:]))
        h = (1 - z) * nn + z * h
        outs.append(h)
    y = np.stack(outs, axis=1) if layer.return_sequences else h
    return y, (x, wih, whh, steps)


def backward(layer, gy, cache):
    x, wih, whh, steps = cache
    n, t_len, _ = x.shape
    hs = layer.units
    dx = np.zeros_like(x, dtype=np.float64)
    dwih, dwhh = np.zeros_like(wih), np.zeros_like(whh)
    dbih, dbhh = np.zeros(3 * hs), np.zeros(3 * hs)
    dh = np.zeros((n, hs))
    for t in reversed(range(t_len)):
        h_prev, r, z, nn, cn = steps[t]
        dh = dh + (gy[:, t] if layer.return_sequences else (gy if t == t_len - 1 else 0.0))
        dnn = dh * (1 - z)
        dz = dh * (h_prev - nn)
        dan = dnn * (1 - nn**2)
        dr = dan * cn
        dar = dr * r * (1 - r)
        daz = dz * z * (1 - z)
        da = np.concatenate([dar, daz, dan], axis=1)
        dc = np.concatenate([dar, daz, dan * r], axis=1)
        dwih += x[:, t].T @ da
        dbih += da.sum(axis=0)
        dwhh += h_prev.T @ dc
        dbhh += dc.sum(axis=0)
        dx[:, t] = da @ wih.T
        dh = dh * z + dc @ whh.T
    return [dx], {"weight_ih": dwih, "weight_hh": dwhh, "bias_ih": dbih, "bias_hh": dbhh}
