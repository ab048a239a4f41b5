"""sparse_categorical_crossentropy: categorical cross-entropy of one_hot(t) for integer class targets
t [N, ...] (predictions [N, ..., C]); label smoothing applies to the one-hot row: t ← e_t (1 − s) + s/C."""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses import categorical_crossentropy as cce
from lockstep.reference.losses._common import class_indices, one_hot
from lockstep.spec.losses import SparseCategoricalCrossentropy


def forward(loss: SparseCategoricalCrossentropy, prediction: np.ndarray, target: np.ndarray
            ) -> tuple[float, cce.Cache]:
    return cce.forward_soft(loss, prediction, one_hot(class_indices(prediction, target), prediction.shape[-1]))


def backward(loss: SparseCategoricalCrossentropy, cache: cce.Cache) -> np.ndarray:
    return cce.backward(loss, cache)
