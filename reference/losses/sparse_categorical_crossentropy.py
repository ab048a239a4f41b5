"""sparse_categorical_crossentropy: categorical cross-entropy of one_hot(t) for integer class targets
t [N, ...] (predictions [N, ..., C]); label smoothing applies to the one-hot row: t ← e_t (1 − s) + s/C."""

from __future__ import annotations

import numpy as np

from lockstep.reference.losses import categorical_crossentropy as cce
from lockstep.reference.losses._common import class_indices, one_hot, smooth
from lockstep.reference.losses._rules import Terms, categorical_singular, categorical_terms, class_length
from lockstep.spec.losses import SparseCategoricalCrossentropy


def forward(loss: SparseCategoricalCrossentropy, prediction: np.ndarray, target: np.ndarray
            ) -> tuple[float, cce.Cache]:
    return cce.forward_soft(loss, prediction, one_hot(class_indices(prediction, target), prediction.shape[-1]))


def backward(loss: SparseCategoricalCrossentropy, cache: cce.Cache) -> np.ndarray:
    return cce.backward(loss, cache)


# ----------------------------------------------------------- float32 rules (reference/losses/_rules.py)
length = class_length


def terms(loss: SparseCategoricalCrossentropy, prediction: np.ndarray, target: np.ndarray,
          a_pred: np.ndarray) -> Terms:
    y = np.asarray(prediction, dtype=np.float64)
    t = smooth(one_hot(class_indices(y, target), y.shape[-1]), loss.label_smoothing, y.shape[-1])
    return categorical_terms(loss, y, t, a_pred)


def singular(loss: SparseCategoricalCrossentropy, prediction: np.ndarray, target: np.ndarray,
             error: np.ndarray) -> bool:
    p = np.asarray(prediction, dtype=np.float64)
    t = one_hot(class_indices(p, target), p.shape[-1])
    return categorical_singular(loss, p, smooth(np.asarray(t, dtype=np.float64), loss.label_smoothing,
                                                p.shape[-1]), error)
