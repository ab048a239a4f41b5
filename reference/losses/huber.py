"""huber: ½d² if |d| ≤ δ else δ(|d| - ½δ), d = y - t, per element, then reduced."""

import numpy as np

from lockstep.reference.losses._common import reduce


def forward(loss, y, t):
    d = y - t
    a = np.abs(d)
    delta = loss.delta
    value, scale = reduce(np.where(a <= delta, 0.5 * d**2, delta * (a - 0.5 * delta)), loss.reduction)
    return value, (d, scale)


def backward(loss, cache):
    d, scale = cache
    return np.clip(d, -loss.delta, loss.delta) * scale
