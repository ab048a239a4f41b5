"""sgd (PyTorch's formulation): b_1 = g; b_t = μ b_{t-1} + (1 - dampening) g;
step = g + μ b_t with Nesterov, else b_t; w ← w - lr · step."""

import numpy as np


def init_state(opt, param):
    return {"momentum_buffer": np.zeros_like(param)} if opt.momentum > 0 else {}


def step(opt, param, grad, state, lr, t):
    if opt.momentum > 0:
        b = state["momentum_buffer"]
        b[...] = grad if t == 1 else opt.momentum * b + (1 - opt.dampening) * grad
        grad = grad + opt.momentum * b if opt.nesterov else b
    return param - lr * grad
