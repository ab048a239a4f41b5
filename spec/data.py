"""Data of spec v1: where samples come from, how they are preprocessed, split and batched.

Synthetic data, the split and the data order all come from the recipe seed through the reference's
generator (docs/spec/v1-semantics.md, "Randomness"), so every backend sees the same batches.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from lockstep.spec.base import INT64_MAX, Int, Name, NonNegativeFloat, PositiveInt, Probability, Real, Strict

Classes = Annotated[int, Field(ge=2, le=INT64_MAX)]


class SyntheticClassification(Strict):
    """Gaussian blobs: class k's centre ~ N(0, separation^2 I), samples ~ centre + N(0, I); integer labels."""

    type: Literal["synthetic_classification"] = Field(description=(
        "`synthetic_classification`: seeded Gaussian blobs, one per class."))
    num_samples: PositiveInt = Field(description="Number of samples `n` (before the split).")
    shape: list[PositiveInt] = Field(min_length=1, description="Per-sample feature shape.")
    num_classes: Classes = Field(description="Number of classes `K` (labels `0..K-1`).")
    separation: NonNegativeFloat = Field(3.0, description="Standard deviation of the class centres; larger is easier.")


class SyntheticRegression(Strict):
    """x ~ N(0, I) of `shape`; t = x_flat @ W + noise N(0, noise^2), W ~ N(0, 1/in)."""

    type: Literal["synthetic_regression"] = Field(description=(
        "`synthetic_regression`: seeded Gaussian features with linear targets plus noise."))
    num_samples: PositiveInt = Field(description="Number of samples `n`.")
    shape: list[PositiveInt] = Field(min_length=1, description="Per-sample feature shape.")
    targets: PositiveInt = Field(1, description="Targets per sample; targets are `[targets]` per sample.")
    noise: NonNegativeFloat = Field(0.1, description="Standard deviation of the Gaussian noise added to the targets.")


class SyntheticSequences(Strict):
    """Sequences [length, features] of N(0, 1) values, or [length] integer tokens when `vocab_size` is set.

    The label depends on the whole sequence (a task that needs memory): the standardized sum s of the
    first feature (or of the centred tokens); 2 classes: s > 0; K classes: min(K-1, floor(K Φ(s))).
    """

    type: Literal["synthetic_sequences"] = Field(description=(
        "`synthetic_sequences`: seeded sequences whose label depends on the whole sequence."))
    num_samples: PositiveInt = Field(description="Number of sequences `n`.")
    length: PositiveInt = Field(description="Steps per sequence `T`.")
    features: PositiveInt = Field(1, description="Features per step `F` (float sequences; ignored with `vocab_size`).")
    vocab_size: PositiveInt | None = Field(None, description=(
        "Emit integer tokens `[T]` in `[0, vocab_size)` instead of float features `[T, F]`."))
    num_classes: Classes = Field(2, description="Number of classes of the sequence label.")


class NpzFile(Strict):
    """A local .npz; `path` is relative to the recipe's folder and may not leave it."""

    type: Literal["npz"] = Field(description="`npz`: arrays from a local `.npz` file.")
    path: str = Field(description="A `.npz` file relative to the recipe's folder.")
    features: str = Field("x", description="Name of the features array (samples on axis 0).")
    targets: str = Field("y", description="Name of the targets array (samples on axis 0).")


class CsvFile(Strict):
    """A local numeric .csv; the target column by name (with a header) or index."""

    type: Literal["csv"] = Field(description="`csv`: rows of a local numeric `.csv` file.")
    path: str = Field(description="A numeric `.csv` file relative to the recipe's folder; one sample per line.")
    target: str | Int = Field(description=(
        "The target column: its header name, or its 0-based index (negative counts from the end). Every other column "
        "is a feature."))
    header: bool = Field(True, description="The first non-blank line names the columns.")
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="One character separating cells.")
    target_type: Literal["class_index", "float"] = Field("float", description=(
        "`float`: targets are real numbers (regression, binary cross-entropy); `class_index`: non-negative integers."))


class Dataset(Strict):
    """A small real dataset that ships with Lockstep (no downloads). `digits`: 1,797 8x8 images, 10 classes."""

    type: Literal["dataset"] = Field(description=(
        "`dataset`: a small real dataset that ships with Lockstep (nothing is downloaded)."))
    name: Literal["digits"] = Field(description=(
        "The dataset. `digits`: 1,797 8x8 grey images of hand-written digits (values 0..16), 10 classes."))
    shape: Literal["flat", "image"] = Field("flat", description=(
        "`flat`: samples `[64]`; `image`: samples `[1, 8, 8]` (channels first)."))


Source = Annotated[
    Union[SyntheticClassification, SyntheticRegression, SyntheticSequences, NpzFile, CsvFile, Dataset],
    Field(discriminator="type"),
]


class Standardize(Strict):
    """Features: (x - mean) / std with mean and std over the training split, per feature; std 0 -> 1."""

    type: Literal["standardize"] = Field(description=(
        "`standardize`: each feature to zero mean and unit standard deviation (fitted on the training split)."))


class MinMax(Strict):
    """Features scaled to [low, high] with min and max over the training split, per feature."""

    type: Literal["min_max"] = Field(description=(
        "`min_max`: each feature scaled to `[low, high]` (fitted on the training split)."))
    low: Real = Field(0.0, description="Value the training minimum of each feature maps to; must be below `high`.")
    high: Real = Field(1.0, description="Value the training maximum of each feature maps to.")

    @model_validator(mode="after")
    def _range(self) -> MinMax:
        if not self.low < self.high:
            raise ValueError(f"`low` ({self.low:g}) must be below `high` ({self.high:g})")
        if not abs(self.high - self.low) < float("inf"):
            raise ValueError(f"the range [{self.low:g}, {self.high:g}] is wider than a float64 can hold")
        return self


class OneHot(Strict):
    """Integer class targets -> one-hot float targets [num_classes]."""

    type: Literal["one_hot"] = Field(description="`one_hot`: integer class targets to one-hot rows.")
    num_classes: Classes = Field(description=(
        "Length of the one-hot rows; class targets must lie in `[0, num_classes)`."))


Preprocessing = Annotated[Union[Standardize, MinMax, OneHot], Field(discriminator="type")]


class Split(Strict):
    """The last `validation` fraction of a seeded permutation is held out for evaluation."""

    validation: Probability = Field(0.0, description=(
        "Fraction held out: the last `ceil(n * validation)` samples of a seeded permutation, the product taken "
        "exactly on the decimal as written (0.07 of 100 samples is 7). 0: no hold-out (evaluation uses the "
        "training split)."))

    def held_out(self, n: int) -> int:
        """How many of `n` samples are held out: exact on the shortest decimal of `validation`, since float64's
        product rounded 100 × 0.07 up to 7.000000000000001 and held out 8."""
        from fractions import Fraction

        return math.ceil(Fraction(repr(float(self.validation))) * n)


class Data(Strict):
    source: Source = Field(description="Where the samples come from.")
    preprocessing: list[Preprocessing] = Field(default_factory=list, description=(
        "Steps applied in order, each type at most once; fitted on the training split."))
    split: Split = Field(default_factory=Split, description="How much is held out for evaluation.")
    batch_size: PositiveInt = Field(description="Samples per optimizer step (the global batch).")
    shuffle: bool = Field(True, description=(
        "`true`: every epoch visits the training split in a new seeded order; `false`: in stored order."))
    drop_last: bool = Field(False, description="Drop an epoch's last, smaller batch.")


Metric = Literal["accuracy", "mse", "mae", "loss"]
MetricName = Name
