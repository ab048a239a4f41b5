"""Losses of spec v1. Predictions are [N, ..., C] (class axis last); reduction is over every element
of the per-sample loss (mean or sum over the batch; per-sample losses already sum over classes)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from lockstep.spec.base import PositiveFloat, Probability, Strict

Reduction = Literal["mean", "sum"]


class _Loss(Strict):
    reduction: Reduction = "mean"


class MSE(_Loss):
    """mean((y - t)^2) over every element."""

    type: Literal["mse"]


class MAE(_Loss):
    """mean(|y - t|) over every element."""

    type: Literal["mae"]


class Huber(_Loss):
    """0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta), d = y - t, per element."""

    type: Literal["huber"]
    delta: PositiveFloat = 1.0


class BinaryCrossentropy(_Loss):
    """-(t log p + (1 - t) log(1 - p)) per element, p = sigmoid(y) when from_logits.

    Label smoothing: t <- t (1 - s) + s / 2. Probabilities are never clipped.
    """

    type: Literal["binary_crossentropy"]
    from_logits: bool
    label_smoothing: Probability = 0.0


class CategoricalCrossentropy(_Loss):
    """-sum_c t_c log p_c per sample with one-hot or soft targets; p = softmax(y) when from_logits.

    Label smoothing: t <- t (1 - s) + s / C.
    """

    type: Literal["categorical_crossentropy"]
    from_logits: bool
    label_smoothing: Probability = 0.0


class SparseCategoricalCrossentropy(_Loss):
    """Categorical cross-entropy with integer class targets [N, ...]."""

    type: Literal["sparse_categorical_crossentropy"]
    from_logits: bool
    label_smoothing: Probability = 0.0


class NLL(_Loss):
    """-y[target] per sample, y being log-probabilities (e.g. from log_softmax), integer targets."""

    type: Literal["nll"]


Loss = Annotated[
    Union[MSE, MAE, Huber, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, NLL],
    Field(discriminator="type"),
]

CLASS_INDEX_LOSSES = ("sparse_categorical_crossentropy", "nll")
