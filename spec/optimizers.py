"""Optimizers of spec v1, in the PyTorch formulation (lr outside moment buffers, ε outside the root).

Coupled L2 regularization is the recipe's `regularization.l2` (added to the gradient, after clipping);
decoupled weight decay is AdamW's `weight_decay`. The math is in docs/spec/v1-semantics.md.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from lockstep.spec.base import NonNegativeFloat, PositiveFloat, Probability, Strict

Beta = Probability  # [0, 1)


class _Optimizer(Strict):
    learning_rate: PositiveFloat


class SGD(_Optimizer):
    """b_1 = g; b_t = momentum b_{t-1} + (1 - dampening) g; step = g + momentum b_t (nesterov) or b_t."""

    type: Literal["sgd"]
    momentum: Beta = 0.0
    dampening: Beta = 0.0
    nesterov: bool = False


class Adam(_Optimizer):
    """m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t); w -= lr m̂ / (sqrt(v̂) + ε). amsgrad keeps max v."""

    type: Literal["adam"]
    beta1: Beta = 0.9
    beta2: Beta = 0.999
    epsilon: PositiveFloat = 1e-8
    amsgrad: bool = False


class AdamW(Adam):
    """w <- w (1 - lr weight_decay) before the Adam step (decoupled decay)."""

    type: Literal["adamw"]  # type: ignore[assignment]
    weight_decay: NonNegativeFloat = 0.01


class RMSprop(_Optimizer):
    """v = ρ v + (1 - ρ) g²; centered: a = ρ a + (1 - ρ) g, den = sqrt(v - a²) + ε; else sqrt(v) + ε.
    momentum: b = μ b + g / den, w -= lr b; else w -= lr g / den."""

    type: Literal["rmsprop"]
    rho: Beta = 0.99
    epsilon: PositiveFloat = 1e-8
    momentum: Beta = 0.0
    centered: bool = False


class Adagrad(_Optimizer):
    """s = s + g²; w -= lr g / (sqrt(s) + ε); s starts at initial_accumulator_value."""

    type: Literal["adagrad"]
    epsilon: PositiveFloat = 1e-10
    initial_accumulator_value: NonNegativeFloat = 0.0


Optimizer = Annotated[Union[SGD, Adam, AdamW, RMSprop, Adagrad], Field(discriminator="type")]
