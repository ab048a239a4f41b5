"""rmsprop: v = ρ v + (1-ρ) g²; centered: a = ρ a + (1-ρ) g, den = sqrt(v - a²) + ε, else sqrt(v) + ε;
momentum: b = μ b + g/den, w ← w - lr b; else w ← w - lr g/den  — ε outside the root."""

import numpy as np


def init_state(opt, param):
    s = {"square_avg": np.zeros_like(param)}
    if opt.centered:
        s["grad_avg"] = np.zeros_like(param)
    if opt.momentum > 0:
        s["momentum_buffer"] = np.zeros_like(param)
    return s


def step(opt, param, grad, state, lr, t):
    v = state["square_avg"]
    v[...] = opt.rho * v + (1 - opt.rho) * grad * grad
    if opt.centered:
        a = state["grad_avg"]
        a[...] = opt.rho * a + (1 - opt.rho) * grad
        den = np.sqrt(v - a * a) + opt.epsilon
    else:
        den = np.sqrt(v) + opt.epsilon
    if opt.momentum > 0:
        b = state["momentum_buffer"]
        b[...] = opt.momentum * b + grad / den
        return param - lr * b
    return param - lr * grad / den
