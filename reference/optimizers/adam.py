"""adam: m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; m̂ = m/(1-β1^t); v̂ = v/(1-β2^t) (amsgrad: the
running max of v, then corrected); w ← w - lr m̂ / (sqrt(v̂) + ε)  — ε outside the root, after correction."""

import numpy as np


def init_state(opt, param):
    s = {"exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
    if opt.amsgrad:
        s["max_exp_avg_sq"] = np.zeros_like(param)
    return s


def step(opt, param, grad, state, lr, t):
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m[...] = opt.beta1 * m + (1 - opt.beta1) * grad
    v[...] = opt.beta2 * v + (1 - opt.beta2) * grad * grad
    if opt.amsgrad:
        vmax = state["max_exp_avg_sq"]
        vmax[...] = np.maximum(vmax, v)
        v = vmax
    m_hat = m / (1 - opt.beta1**t)
    v_hat = v / (1 - opt.beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + opt.epsilon)
