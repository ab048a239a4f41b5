"""Learning-rate schedules of spec v1. The schedule is evaluated once per optimizer step t = 0, 1, ...
(never per epoch); lr(t) multiplies nothing else. An optional linear warm-up precedes any schedule:
for t < W, lr = base (f + (1 - f) t / W); after it, the schedule runs on t - W."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from lockstep.spec.base import NonNegativeFloat, PositiveFloat, PositiveInt, Strict, UnitInterval


class Warmup(Strict):
    steps: PositiveInt
    start_factor: UnitInterval = 0.0


class _Schedule(Strict):
    warmup: Warmup | None = None


class Constant(_Schedule):
    type: Literal["constant"]


class Step(_Schedule):
    """lr = base gamma^floor(t / step_size)."""

    type: Literal["step"]
    step_size: PositiveInt
    gamma: PositiveFloat = 0.1


class Exponential(_Schedule):
    """lr = base gamma^t."""

    type: Literal["exponential"]
    gamma: PositiveFloat


class Cosine(_Schedule):
    """lr = min + (base - min)(1 + cos(π min(t, T) / T)) / 2, T = decay_steps."""

    type: Literal["cosine"]
    decay_steps: PositiveInt
    min_learning_rate: NonNegativeFloat = 0.0


Schedule = Annotated[Union[Constant, Step, Exponential, Cosine], Field(discriminator="type")]


class ClipGlobalNorm(Strict):
    """g <- g min(1, max_norm / ||g||) with ||g|| over all parameters' gradients together."""

    type: Literal["global_norm"]
    max_norm: PositiveFloat


class ClipValue(Strict):
    """g <- clip(g, -clip_value, clip_value) elementwise."""

    type: Literal["value"]
    clip_value: PositiveFloat


GradientClipping = Annotated[Union[ClipGlobalNorm, ClipValue], Field(discriminator="type")]
