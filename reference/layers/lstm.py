"""lstm, gates (i, f, g, o), zero initial state, batch-first [N, T, F]:

z_t = x_t W_ih + h_{t-1} W_hh + b;  i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t). Output h_T, or every h_t with return_sequences.
"""

import numpy as np

from lockstep.reference.layers._act import sigmoid


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    n, t_len, _ = x.shape
    hsz = layer.units
    wih, whh, b = params["weight_ih"], params["weight_hh"], params["bias"]
    h = np.zeros((n, hsz))
    c = np.zeros((n, hsz))
    steps = []
    hs = []
    for t in range(t_len):
        z = x[:, t] @ wih + h @ whh + b
        i, f, g, o = (sigmoid(z[:, :hsz]), sigmoid(z[:, hsz:2 * hsz]), np.tanh(z[:, 2 * hsz:3 * hsz]),
                      sigmoid(z[:, 3 * hsz:]))
        c_prev, h_prev = c, h
        c = f * c_prev + i * g
        tc = np.tanh(c)
        h = o * tc
        steps.append((h_prev, c_prev, i, f, g, o, tc))
        hs.append(h)
    y = np.stack(hs, axis=1) if layer.return_sequences else h
    return y, (x, wih, whh, steps)


def backward(layer, gy, cache):
    x, wih, whh, steps = cache
    n, t_len, _ = x.shape
    hsz = layer.units
    dx = np.zeros_like(x, dtype=np.float64)
    dwih, dwhh, db = np.zeros_like(wih), np.zeros_like(whh), np.zeros(4 * hsz)
    dh = np.zeros((n, hsz))
    dc = np.zeros((n, hsz))
    for t in reversed(range(t_len)):
        h_prev, c_prev, i, f, g, o, tc = steps[t]
        dh = dh + (gy[:, t] if layer.return_sequences else (gy if t == t_len - 1 else 0.0))
        do = dh * tc
        dc = dc + dh * o * (1 - tc**2)
        di, df, dg = dc * g, dc * c_prev, dc * i
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)
        dwih += x[:, t].T @ dz
        dwhh += h_prev.T @ dz
        db += dz.sum(axis=0)
        dx[:, t] = dz @ wih.T
        dh = dz @ whh.T
        dc = dc * f
    return [dx], {"weight_ih": dwih, "weight_hh": dwhh, "bias": db}
