"""conv1d: y[n, f, l] = b[f] + Σ_{c in group(f), i} w[f, c, i] · x_pad[n, c, l·s + i·d]."""

from lockstep.reference.layers._conv import conv_backward, conv_forward


def forward(layer, inputs, params, ctx):
    return conv_forward(layer, inputs[0], params)


def backward(layer, g, cache):
    return conv_backward(layer, g, cache)
