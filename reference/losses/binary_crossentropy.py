"""binary_crossentropy: -(t log p + (1 - t) log(1 - p)) per element, p = σ(y) from logits.

Label smoothing t ← t(1 - s) + s/2. From logits the stable form is softplus(y) - t y.
Probabilities are never clipped: p must lie in (0, 1).
"""

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.losses._common import reduce


def forward(loss, y, t):
    t = np.asarray(t, dtype=np.float64).reshape(y.shape)
    t = t * (1 - loss.label_smoothing) + 0.5 * loss.label_smoothing
    if loss.from_logits:
        per = np.logaddexp(0.0, y) - t * y
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            per = -(t * np.log(y) + (1 - t) * np.log1p(-y))
    value, scale = reduce(per, loss.reduction)
    return value, (y, t, scale)


def backward(loss, cache):
    y, t, scale = cache
    if loss.from_logits:
        return (sigmoid(y) - t) * scale
    return (-(t / y) + (1 - t) / (1 - y)) * scale
