"""sparse_categorical_crossentropy: categorical cross-entropy with integer class targets [N, ...]."""

from lockstep.reference.losses import categorical_crossentropy as cce
from lockstep.reference.losses._common import one_hot


def forward(loss, y, t):
    return cce.forward(loss, y, one_hot(t, y.shape[-1]))


def backward(loss, cache):
    return cce.backward(loss, cache)
