"""conv2d: y[n, f, p, q] = b[f] + Σ_{c in group(f), i, j} w[f, c, i, j] · x_pad[n, c, p·s0 + i·d0, q·s1 + j·d1]."""

from lockstep.reference.layers._conv import conv_backward, conv_forward


def forward(layer, inputs, params, ctx):
    return conv_forward(layer, inputs[0], params)


def backward(layer, g, cache):
    return conv_backward(layer, g, cache)
