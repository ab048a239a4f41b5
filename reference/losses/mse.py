"""mse: reduce((y - t)²) over every element."""

from lockstep.reference.losses._common import reduce


def forward(loss, y, t):
    d = y - t
    value, scale = reduce(d**2, loss.reduction)
    return value, (d, scale)


def backward(loss, cache):
    d, scale = cache
    return 2.0 * d * scale
