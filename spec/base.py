"""Shared building blocks of the spec models: strict config, the number types, shapes, dtypes.

Types are strict, as the committed JSON Schema is: `"64"` is not an integer, `yes` is not a boolean and
`true` is not a number (an integer is a number, as in JSON Schema). Every real number is finite
(`Real`): `.inf` or `.nan` as a learning rate, a bound or an initializer's value would only surface
as a crash or a NaN minutes into a run. Every integer fits in 64 bits (`Int`), the size every array
library indexes with. These two types are the only number types of the spec models.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "lockstep/v1"
SUPPORTED_VERSIONS = ("lockstep/v1",)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT_MAX = 1.7976931348623157e308  # the largest finite float64
OVERFLOW = {"float32": float(2**128 - 2**103), "float64": math.inf}
"""The smallest magnitude each dtype rounds to ±inf (float32: its largest finite number plus half an ulp): a value
from float64 data at or beyond it is not representable in a recipe of that dtype."""


def _finite_in_schema(schema: dict[str, Any]) -> None:
    """JSON Schema has no "finite": bound each open side by the largest double, which rejects ±infinity
    (a YAML `.inf`) in editors and check-jsonschema; NaN is not valid JSON, and `lockstep validate` refuses it."""
    if "minimum" not in schema and "exclusiveMinimum" not in schema:
        schema["minimum"] = -FLOAT_MAX
    if "maximum" not in schema and "exclusiveMaximum" not in schema:
        schema["maximum"] = FLOAT_MAX


Real = Annotated[float, Field(allow_inf_nan=False, json_schema_extra=_finite_in_schema)]
"""A finite real number (an integer is accepted, a bool or a string is not)."""
Int = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""A 64-bit integer (a bool, a float such as 3.0 or a string is not)."""

PositiveInt = Annotated[int, Field(gt=0, le=INT64_MAX)]
NonNegativeInt = Annotated[int, Field(ge=0, le=INT64_MAX)]
NonNegativeFloat = Annotated[Real, Field(ge=0.0)]
PositiveFloat = Annotated[Real, Field(gt=0.0)]
Probability = Annotated[Real, Field(ge=0.0, lt=1.0)]
UnitInterval = Annotated[Real, Field(ge=0.0, le=1.0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=128)]
FloatDType = Literal["float32", "float64"]

Shape = tuple[int, ...]
"""A per-sample shape: the batch dimension is never written in a spec and never part of a Shape."""


class Strict(BaseModel):
    """Every spec object rejects unknown keys (a typo must never silently fall back to a default) and
    converts nothing (`"0.1"` stays a string, and is refused where a number belongs); non-finite floats are
    refused even in a field that forgot to say `Real`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, validate_default=True, strict=True,
                              allow_inf_nan=False)


class Metadata(Strict):
    name: Name = Field(description=(
        "The document's name: reports, run folders (`runs/<name>-<backend>`) and checkpoints use it."))
    description: str = Field("", description="Free text for people; ignored by every tool.")
    labels: dict[str, str] = Field(default_factory=dict, description=(
        "Free key/value strings for your own tooling; ignored by Lockstep."))


class ShapeError(ValueError):
    """A layer cannot accept its input shapes; the message names the shapes and what was expected."""
