"""adagrad: s = s + g² (s starts at initial_accumulator_value); w ← w - lr g / (sqrt(s) + ε)."""

import numpy as np


def init_state(opt, param):
    return {"sum": np.full_like(param, opt.initial_accumulator_value)}


def step(opt, param, grad, state, lr, t):
    s = state["sum"]
    s[...] = s + grad * grad
    return param - lr * grad / (np.sqrt(s) + opt.epsilon)
