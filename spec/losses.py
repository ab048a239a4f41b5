"""Losses of spec v1. Predictions are [N, ..., C] (class axis last); reduction is over every element
of the per-sample loss (mean or sum over the batch; per-sample losses already sum over classes)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from lockstep.spec.base import PositiveFloat, Probability, Strict

Reduction = Literal["mean", "sum"]


class _Loss(Strict):
    reduction: Reduction = Field("mean", description=(
        "`mean`: average of the per-element (or per-position) losses over the batch; `sum`: their sum."))


class MSE(_Loss):
    """mean((y - t)^2) over every element."""

    type: Literal["mse"] = Field(description="`mse`: the squared error `(y - t)²` per element.")


class MAE(_Loss):
    """mean(|y - t|) over every element."""

    type: Literal["mae"] = Field(description="`mae`: the absolute error `|y - t|` per element.")


class Huber(_Loss):
    """0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta), d = y - t, per element."""

    type: Literal["huber"] = Field(description="`huber`: quadratic within `delta` of the target, linear beyond.")
    delta: PositiveFloat = Field(1.0, description="Where the loss turns from quadratic to linear.")


class BinaryCrossentropy(_Loss):
    """-(t log p + (1 - t) log(1 - p)) per element, p = sigmoid(y) when from_logits.

    Label smoothing: t <- t (1 - s) + s / 2. Probabilities are never clipped.
    """

    type: Literal["binary_crossentropy"] = Field(description=(
        "`binary_crossentropy`: cross-entropy of 0/1 (or soft) targets per element."))
    from_logits: bool = Field(description=(
        "Required. `true`: predictions are logits (a sigmoid is applied inside the loss, stably); `false`: "
        "probabilities in (0, 1)."))
    label_smoothing: Probability = Field(0.0, description="`s`: targets become `t (1 - s) + s / 2`.")


class CategoricalCrossentropy(_Loss):
    """-sum_c t_c log p_c per sample with one-hot or soft targets; p = softmax(y) when from_logits.

    Label smoothing: t <- t (1 - s) + s / C.
    """

    type: Literal["categorical_crossentropy"] = Field(description=(
        "`categorical_crossentropy`: cross-entropy of one-hot (or soft) targets over the last axis."))
    from_logits: bool = Field(description=(
        "Required. `true`: predictions are logits (log-softmax inside the loss); `false`: probabilities over the "
        "last axis."))
    label_smoothing: Probability = Field(0.0, description="`s`: targets become `t (1 - s) + s / C`.")


class SparseCategoricalCrossentropy(_Loss):
    """Categorical cross-entropy with integer class targets [N, ...]."""

    type: Literal["sparse_categorical_crossentropy"] = Field(description=(
        "`sparse_categorical_crossentropy`: cross-entropy of integer class targets over the last axis."))
    from_logits: bool = Field(description="Required, as for `categorical_crossentropy`.")
    label_smoothing: Probability = Field(0.0, description="`s`: the one-hot target becomes `t (1 - s) + s / C`.")


class NLL(_Loss):
    """-y[target] per sample, y being log-probabilities (e.g. from log_softmax), integer targets."""

    type: Literal["nll"] = Field(description=(
        "`nll`: the negative log-likelihood of integer class targets, from log-probabilities."))


Loss = Annotated[
    Union[MSE, MAE, Huber, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, NLL],
    Field(discriminator="type"),
]

CLASS_INDEX_LOSSES = ("sparse_categorical_crossentropy", "nll")
