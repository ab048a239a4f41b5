"""Data of spec v1: where samples come from, how they are preprocessed, split and batched.

Synthetic data, the split and the data order all come from the recipe seed through the reference's
generator (docs/spec/v1-semantics.md, "Randomness"), so every backend sees the same batches.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from lockstep.spec.base import INT64_MAX, Int, Name, NonNegativeFloat, PositiveInt, Probability, Real, Strict

Classes = Annotated[int, Field(ge=2, le=INT64_MAX)]


class SyntheticClassification(Strict):
    """Gaussian blobs: class k's centre ~ N(0, separation^2 I), samples ~ centre + N(0, I); integer labels."""

    type: Literal["synthetic_classification"]
    num_samples: PositiveInt
    shape: list[PositiveInt] = Field(min_length=1)
    num_classes: Classes
    separation: NonNegativeFloat = 3.0


class SyntheticRegression(Strict):
    """x ~ N(0, I) of `shape`; t = x_flat @ W + noise N(0, noise^2), W ~ N(0, 1/in)."""

    type: Literal["synthetic_regression"]
    num_samples: PositiveInt
    shape: list[PositiveInt] = Field(min_length=1)
    targets: PositiveInt = 1
    noise: NonNegativeFloat = 0.1


class SyntheticSequences(Strict):
    """Sequences [length, features] of N(0, 1) values, or [length] integer tokens when `vocab_size` is set.

    The label depends on the whole sequence (a task that needs memory): the standardized sum s of the
    first feature (or of the centred tokens); 2 classes: s > 0; K classes: min(K-1, floor(K Φ(s))).
    """

    type: Literal["synthetic_sequences"]
    num_samples: PositiveInt
    length: PositiveInt
    features: PositiveInt = 1
    vocab_size: PositiveInt | None = None
    num_classes: Classes = 2


class NpzFile(Strict):
    """A local .npz; `path` is relative to the recipe's folder and may not leave it."""

    type: Literal["npz"]
    path: str
    features: str = "x"
    targets: str = "y"


class CsvFile(Strict):
    """A local numeric .csv; the target column by name (with a header) or index."""

    type: Literal["csv"]
    path: str
    target: str | Int
    header: bool = True
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    target_type: Literal["class_index", "float"] = "float"


class Dataset(Strict):
    """A small real dataset that ships with Lockstep (no downloads). `digits`: 1,797 8x8 images, 10 classes."""

    type: Literal["dataset"]
    name: Literal["digits"]
    shape: Literal["flat", "image"] = "flat"  # flat: [64]; image: [1, 8, 8]


Source = Annotated[
    Union[SyntheticClassification, SyntheticRegression, SyntheticSequences, NpzFile, CsvFile, Dataset],
    Field(discriminator="type"),
]


class Standardize(Strict):
    """Features: (x - mean) / std with mean and std over the training split, per feature; std 0 -> 1."""

    type: Literal["standardize"]


class MinMax(Strict):
    """Features scaled to [low, high] with min and max over the training split, per feature."""

    type: Literal["min_max"]
    low: Real = 0.0
    high: Real = 1.0

    @model_validator(mode="after")
    def _range(self) -> MinMax:
        if not self.low < self.high:
            raise ValueError(f"`low` ({self.low:g}) must be below `high` ({self.high:g})")
        if not abs(self.high - self.low) < float("inf"):
            raise ValueError(f"the range [{self.low:g}, {self.high:g}] is wider than a float64 can hold")
        return self


class OneHot(Strict):
    """Integer class targets -> one-hot float targets [num_classes]."""

    type: Literal["one_hot"]
    num_classes: Classes


Preprocessing = Annotated[Union[Standardize, MinMax, OneHot], Field(discriminator="type")]


class Split(Strict):
    """The last `validation` fraction of a seeded permutation is held out for evaluation."""

    validation: Probability = 0.0


class Data(Strict):
    source: Source
    preprocessing: list[Preprocessing] = Field(default_factory=list)
    split: Split = Field(default_factory=Split)
    batch_size: PositiveInt
    shuffle: bool = True  # a new seeded permutation of the training split every epoch
    drop_last: bool = False


Metric = Literal["accuracy", "mse", "mae", "loss"]
MetricName = Name
