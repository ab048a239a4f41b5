"""Initializers: named, seeded, computed by the reference and handed to every backend (never framework defaults).

Fans follow the canonical layouts: dense weight [in, out] has fan_in=in, fan_out=out; a conv kernel
[out, in/groups, *k] has fan_in=(in/groups)*prod(k), fan_out=out*prod(k); recurrent kernels [in, gates*units].
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from lockstep.spec.base import NonNegativeInt, PositiveFloat, Real, Strict


class _Seeded(Strict):
    seed: NonNegativeInt | None = Field(None, description=(
        "Draw this parameter from its own seed instead of the recipe's seed (the stream is still named after the "
        "parameter)."))


class Zeros(_Seeded):
    type: Literal["zeros"] = Field(description="`zeros`: every element 0.")


class Ones(_Seeded):
    type: Literal["ones"] = Field(description="`ones`: every element 1.")


class Constant(_Seeded):
    type: Literal["constant"] = Field(description="`constant`: every element `value`.")
    value: Real = Field(description="The value of every element.")


class Uniform(_Seeded):
    type: Literal["uniform"] = Field(description="`uniform`: `U(low, high)`.")
    low: Real = Field(-0.05, description="Lower bound; must be below `high`.")
    high: Real = Field(0.05, description="Upper bound.")

    @model_validator(mode="after")
    def _range(self) -> Uniform:
        if not self.low < self.high:
            raise ValueError(f"`low` ({self.low:g}) must be below `high` ({self.high:g})")
        if not abs(self.high - self.low) < float("inf"):
            raise ValueError(f"the range [{self.low:g}, {self.high:g}] is wider than a float64 can hold")
        return self


class Normal(_Seeded):
    type: Literal["normal"] = Field(description="`normal`: `N(mean, std²)`, not truncated.")
    mean: Real = Field(0.0, description="Mean.")
    std: PositiveFloat = Field(0.05, description="Standard deviation (not truncated).")


class GlorotUniform(_Seeded):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""

    type: Literal["glorot_uniform", "xavier_uniform"] = Field(description=(
        "`glorot_uniform` (or `xavier_uniform`): `U(-a, a)`, `a = gain · sqrt(6 / (fan_in + fan_out))`."))
    gain: PositiveFloat = Field(1.0, description="Multiplies the bound.")


class GlorotNormal(_Seeded):
    """N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out)) (not truncated)."""

    type: Literal["glorot_normal", "xavier_normal"] = Field(description=(
        "`glorot_normal` (or `xavier_normal`): `N(0, s²)`, `s = gain · sqrt(2 / (fan_in + fan_out))`, not truncated."))
    gain: PositiveFloat = Field(1.0, description="Multiplies the standard deviation.")


class HeUniform(_Seeded):
    """U(-a, a), a = sqrt(6 / fan) with fan = fan_in or fan_out by `mode`."""

    type: Literal["he_uniform", "kaiming_uniform"] = Field(description=(
        "`he_uniform` (or `kaiming_uniform`): `U(-a, a)`, `a = sqrt(6 / fan)`."))
    mode: Literal["fan_in", "fan_out"] = Field("fan_in", description="Which fan the bound uses.")


class HeNormal(_Seeded):
    """N(0, s^2), s = sqrt(2 / fan) (not truncated)."""

    type: Literal["he_normal", "kaiming_normal"] = Field(description=(
        "`he_normal` (or `kaiming_normal`): `N(0, s²)`, `s = sqrt(2 / fan)`, not truncated."))
    mode: Literal["fan_in", "fan_out"] = Field("fan_in", description="Which fan the standard deviation uses.")


class Orthogonal(_Seeded):
    """QR of a standard normal matrix [rows=shape[0], cols=prod(shape[1:])], sign-corrected by diag(R)."""

    type: Literal["orthogonal"] = Field(description=(
        "`orthogonal`: `gain ·` an orthogonal matrix (QR of a standard normal one)."))
    gain: PositiveFloat = Field(1.0, description="Multiplies the orthogonal matrix.")


Initializer = Annotated[
    Union[Zeros, Ones, Constant, Uniform, Normal, GlorotUniform, GlorotNormal, HeUniform, HeNormal, Orthogonal],
    Field(discriminator="type"),
]

ZEROS = Zeros(type="zeros")
ONES = Ones(type="ones")
GLOROT_UNIFORM = GlorotUniform(type="glorot_uniform")
ORTHOGONAL = Orthogonal(type="orthogonal")
EMBEDDING_UNIFORM = Uniform(type="uniform", low=-0.05, high=0.05)
