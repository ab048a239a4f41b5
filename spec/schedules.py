"""Learning-rate schedules of spec v1. The schedule is evaluated once per optimizer step t = 0, 1, ...
(never per epoch); lr(t) multiplies nothing else. An optional linear warm-up precedes any schedule:
for t < W, lr = base (f + (1 - f) t / W); after it, the schedule runs on t - W."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from lockstep.spec.base import NonNegativeFloat, PositiveFloat, PositiveInt, Strict, UnitInterval


class Warmup(Strict):
    steps: PositiveInt = Field(description=(
        "Warm-up length `W` in optimizer steps; the schedule proper starts after it."))
    start_factor: UnitInterval = Field(0.0, description=(
        "The learning rate at step 0 is `start_factor * base`; it rises linearly to `base` at step `W`."))


class _Schedule(Strict):
    warmup: Warmup | None = Field(None, description="A linear warm-up before the schedule; `null`: none.")


class Constant(_Schedule):
    type: Literal["constant"] = Field(description="`constant`: the base learning rate at every step.")


class Step(_Schedule):
    """lr = base gamma^floor(t / step_size)."""

    type: Literal["step"] = Field(description="`step`: multiplied by `gamma` every `step_size` steps.")
    step_size: PositiveInt = Field(description="Multiply the rate by `gamma` every this many steps.")
    gamma: PositiveFloat = Field(0.1, description="Decay factor.")


class Exponential(_Schedule):
    """lr = base gamma^t."""

    type: Literal["exponential"] = Field(description="`exponential`: multiplied by `gamma` every step.")
    gamma: PositiveFloat = Field(description="Decay factor per step.")


class Cosine(_Schedule):
    """lr = min + (base - min)(1 + cos(π min(t, T) / T)) / 2, T = decay_steps."""

    type: Literal["cosine"] = Field(description=(
        "`cosine`: a half cosine from the base rate down to `min_learning_rate` over `decay_steps`."))
    decay_steps: PositiveInt = Field(description=(
        "Steps `T` (after the warm-up) from `base` down to `min_learning_rate`; the rate stays there afterwards."))
    min_learning_rate: NonNegativeFloat = Field(0.0, description="The final learning rate; at most the base rate.")


Schedule = Annotated[Union[Constant, Step, Exponential, Cosine], Field(discriminator="type")]


class ClipGlobalNorm(Strict):
    """g <- g min(1, max_norm / ||g||) with ||g|| over all parameters' gradients together."""

    type: Literal["global_norm"] = Field(description=(
        "`global_norm`: every gradient scaled by one factor so that their joint L2 norm is at most `max_norm`."))
    max_norm: PositiveFloat = Field(description="Largest allowed L2 norm of all gradients taken together.")


class ClipValue(Strict):
    """g <- clip(g, -clip_value, clip_value) elementwise."""

    type: Literal["value"] = Field(description=(
        "`value`: every gradient element clipped to `[-clip_value, clip_value]`."))
    clip_value: PositiveFloat = Field(description="Every gradient element is clipped to `[-clip_value, clip_value]`.")


GradientClipping = Annotated[Union[ClipGlobalNorm, ClipValue], Field(discriminator="type")]
