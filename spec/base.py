"""Shared building blocks of the spec models: strict config, shapes, dtypes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "lockstep/v1"
SUPPORTED_VERSIONS = ("lockstep/v1",)

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=128)]
FloatDType = Literal["float32", "float64"]

Shape = tuple[int, ...]
"""A per-sample shape: the batch dimension is never written in a spec and never part of a Shape."""


class Strict(BaseModel):
    """Every spec object rejects unknown keys: a typo must never silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, validate_default=True)


class Metadata(Strict):
    name: Name
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class ShapeError(ValueError):
    """A layer cannot accept its input shapes; the message names the shapes and what was expected."""
