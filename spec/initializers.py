"""Initializers: named, seeded, computed by the reference and handed to every backend (never framework defaults).

Fans follow the canonical layouts: dense weight [in, out] has fan_in=in, fan_out=out; a conv kernel
[out, in/groups, *k] has fan_in=(in/groups)*prod(k), fan_out=out*prod(k); recurrent kernels [in, gates*units].
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from lockstep.spec.base import NonNegativeInt, PositiveFloat, Real, Strict


class _Seeded(Strict):
    seed: NonNegativeInt | None = None  # None: derived from the recipe seed and the parameter's name


class Zeros(_Seeded):
    type: Literal["zeros"]


class Ones(_Seeded):
    type: Literal["ones"]


class Constant(_Seeded):
    type: Literal["constant"]
    value: Real


class Uniform(_Seeded):
    type: Literal["uniform"]
    low: Real = -0.05
    high: Real = 0.05

    @model_validator(mode="after")
    def _range(self) -> Uniform:
        if not self.low < self.high:
            raise ValueError(f"`low` ({self.low:g}) must be below `high` ({self.high:g})")
        if not abs(self.high - self.low) < float("inf"):
            raise ValueError(f"the range [{self.low:g}, {self.high:g}] is wider than a float64 can hold")
        return self


class Normal(_Seeded):
    type: Literal["normal"]
    mean: Real = 0.0
    std: PositiveFloat = 0.05


class GlorotUniform(_Seeded):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""

    type: Literal["glorot_uniform", "xavier_uniform"]
    gain: PositiveFloat = 1.0


class GlorotNormal(_Seeded):
    """N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out)) (not truncated)."""

    type: Literal["glorot_normal", "xavier_normal"]
    gain: PositiveFloat = 1.0


class HeUniform(_Seeded):
    """U(-a, a), a = sqrt(6 / fan) with fan = fan_in or fan_out by `mode`."""

    type: Literal["he_uniform", "kaiming_uniform"]
    mode: Literal["fan_in", "fan_out"] = "fan_in"


class HeNormal(_Seeded):
    """N(0, s^2), s = sqrt(2 / fan) (not truncated)."""

    type: Literal["he_normal", "kaiming_normal"]
    mode: Literal["fan_in", "fan_out"] = "fan_in"


class Orthogonal(_Seeded):
    """QR of a standard normal matrix [rows=shape[0], cols=prod(shape[1:])], sign-corrected by diag(R)."""

    type: Literal["orthogonal"]
    gain: PositiveFloat = 1.0


Initializer = Annotated[
    Union[Zeros, Ones, Constant, Uniform, Normal, GlorotUniform, GlorotNormal, HeUniform, HeNormal, Orthogonal],
    Field(discriminator="type"),
]

ZEROS = Zeros(type="zeros")
ONES = Ones(type="ones")
GLOROT_UNIFORM = GlorotUniform(type="glorot_uniform")
ORTHOGONAL = Orthogonal(type="orthogonal")
EMBEDDING_UNIFORM = Uniform(type="uniform", low=-0.05, high=0.05)
