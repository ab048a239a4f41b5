"""adamw: decoupled decay w ← w (1 - lr · weight_decay), then the Adam step."""

from lockstep.reference.optimizers import adam

init_state = adam.init_state


def step(opt, param, grad, state, lr, t):
    return adam.step(opt, param * (1 - lr * opt.weight_decay), grad, state, lr, t)
