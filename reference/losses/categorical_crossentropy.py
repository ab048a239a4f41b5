"""categorical_crossentropy: -Σ_c t_c log p_c per sample position (class axis last), p = softmax(y)
from logits; targets one-hot or soft. Label smoothing t ← t(1 - s) + s/C. No probability clipping."""

import numpy as np

from lockstep.reference.losses._common import log_softmax, reduce


def forward(loss, y, t):
    t = np.asarray(t, dtype=np.float64)
    c = y.shape[-1]
    t = t * (1 - loss.label_smoothing) + loss.label_smoothing / c
    logp = log_softmax(y) if loss.from_logits else np.log(y)
    value, scale = reduce(-(t * logp).sum(axis=-1), loss.reduction)
    return value, (y, t, logp, scale)


def backward(loss, cache):
    y, t, logp, scale = cache
    if loss.from_logits:
        return (np.exp(logp) * t.sum(axis=-1, keepdims=True) - t) * scale
    return -(t / y) * scale
