"""Optimizers of spec v1, in the PyTorch formulation (lr outside moment buffers, ε outside the root).

Coupled L2 regularization is the recipe's `regularization.l2` (added to the gradient, after clipping);
decoupled weight decay is AdamW's `weight_decay`. The math is in docs/spec/v1-semantics.md.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import ConfigDict, Field

from lockstep.spec.base import NonNegativeFloat, PositiveFloat, Probability, Strict

Beta = Probability  # [0, 1)


class _Optimizer(Strict):
    learning_rate: PositiveFloat = Field(description="Base learning rate; the schedule scales it per step.")


class SGD(_Optimizer):
    """b_1 = g; b_t = momentum b_{t-1} + (1 - dampening) g; step = g + momentum b_t (nesterov) or b_t."""

    # validate's rule (spec/semantics/recipe.py) in the schema too: Nesterov with momentum 0 does nothing
    model_config = ConfigDict(**_Optimizer.model_config, json_schema_extra={
        "if": {"required": ["nesterov"], "properties": {"nesterov": {"const": True}}},
        "then": {"required": ["momentum"], "properties": {"momentum": {"exclusiveMinimum": 0}}}})

    type: Literal["sgd"] = Field(description=(
        "`sgd`: stochastic gradient descent, with optional momentum (PyTorch's formulation)."))
    momentum: Beta = Field(0.0, description="Momentum `μ`; 0 keeps no buffer.")
    dampening: Beta = Field(0.0, description=(
        "Scales the gradient entering the buffer by `1 - dampening` (not on the first step)."))
    nesterov: bool = Field(False, description=(
        "Nesterov momentum: step with `g + μ b` instead of `b`. Needs `momentum > 0`."))


class Adam(_Optimizer):
    """m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t); w -= lr m̂ / (sqrt(v̂) + ε). amsgrad keeps max v."""

    type: Literal["adam"] = Field(description=(
        "`adam`: Adam, ε outside the root of the bias-corrected second moment (PyTorch's placement)."))
    beta1: Beta = Field(0.9, description="Decay of the first-moment average `m`.")
    beta2: Beta = Field(0.999, description="Decay of the second-moment average `v`.")
    epsilon: PositiveFloat = Field(1e-8, description="Added to `sqrt(v̂)` after bias correction (PyTorch's placement).")
    amsgrad: bool = Field(False, description="Use the running maximum of `v` (state `max_exp_avg_sq`).")


class AdamW(Adam):
    """w <- w (1 - lr weight_decay) before the Adam step (decoupled decay)."""

    type: Literal["adamw"] = Field(description="`adamw`: Adam with decoupled weight decay.")  # type: ignore[assignment]
    weight_decay: NonNegativeFloat = Field(0.01, description=(
        "Decoupled decay: `w ← w (1 - lr · weight_decay)` before the Adam step."))


class RMSprop(_Optimizer):
    """v = ρ v + (1 - ρ) g²; centered: a = ρ a + (1 - ρ) g, den = sqrt(v - a²) + ε; else sqrt(v) + ε.
    momentum: b = μ b + g / den, w -= lr b; else w -= lr g / den."""

    type: Literal["rmsprop"] = Field(description="`rmsprop`: RMSprop, ε outside the root (PyTorch's placement).")
    rho: Beta = Field(0.99, description=(
        "Decay of the squared-gradient average (Keras's default is 0.9; the standard's is 0.99)."))
    epsilon: PositiveFloat = Field(1e-8, description="Added OUTSIDE the square root: `sqrt(v) + ε`.")
    momentum: Beta = Field(0.0, description="Momentum on the scaled step; 0 keeps no buffer.")
    centered: bool = Field(False, description=(
        "Divide by the estimated standard deviation `sqrt(v - a²)` instead of `sqrt(v)`. Needs `rho > 0`."))


class Adagrad(_Optimizer):
    """s = s + g²; w -= lr g / (sqrt(s) + ε); s starts at initial_accumulator_value."""

    type: Literal["adagrad"] = Field(description="`adagrad`: Adagrad.")
    epsilon: PositiveFloat = Field(1e-10, description="Added outside the square root.")
    initial_accumulator_value: NonNegativeFloat = Field(0.0, description="Starting value of the squared-gradient sum.")


Optimizer = Annotated[Union[SGD, Adam, AdamW, RMSprop, Adagrad], Field(discriminator="type")]
