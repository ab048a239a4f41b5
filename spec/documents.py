"""The three document kinds of spec v1: Model, Recipe, Environment."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from lockstep.spec.base import (
    FloatDType,
    Metadata,
    Name,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Strict,
)
from lockstep.spec.data import Data, Metric
from lockstep.spec.layers import Layer
from lockstep.spec.losses import Loss
from lockstep.spec.optimizers import Optimizer
from lockstep.spec.schedules import Constant, GradientClipping, Schedule


class Document(Strict):
    apiVersion: Literal["lockstep/v1"]
    metadata: Metadata


# --------------------------------------------------------------------------------------------- Model
class Input(Strict):
    name: Name
    shape: list[PositiveInt] = Field(min_length=0)
    dtype: Literal["float", "int64"] = "float"  # float: the recipe's dtype


class WeightsFile(Strict):
    """A local .npz of canonical names -> arrays in canonical layout, relative to the model's folder."""

    path: str
    strict: bool = True  # every parameter must be present and no extra array may be


class Model(Document):
    """A sequence (`layers`) or a graph (`nodes` with `inputs`, and `outputs`)."""

    kind: Literal["Model"]
    inputs: list[Input] = Field(min_length=1)
    layers: list[Layer] | None = None
    nodes: list[Layer] | None = None
    outputs: list[Name] | None = None
    weights: WeightsFile | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Model:
        if (self.layers is None) == (self.nodes is None):
            raise ValueError("a Model has either `layers` (a sequence) or `nodes` (a graph), not both or neither")
        if self.nodes is not None and not self.outputs:
            raise ValueError("a graph Model needs `outputs`, the names of its output nodes")
        if self.layers is not None and self.outputs is not None:
            raise ValueError("`outputs` belongs to graph models (`nodes`); a sequence's output is its last layer")
        return self


# -------------------------------------------------------------------------------------------- Recipe
class Regularization(Strict):
    """Coupled L2: l2 * w is added to each parameter's gradient (after clipping, before the optimizer)."""

    l2: NonNegativeFloat = 0.0


class Training(Strict):
    steps: PositiveInt | None = None
    epochs: PositiveInt | None = None

    @model_validator(mode="after")
    def _one(self) -> Training:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("training needs exactly one of `steps` or `epochs`")
        return self


class Evaluation(Strict):
    every: PositiveInt | None = None  # steps; None: at the end only
    metrics: list[Metric] = Field(default_factory=lambda: ["loss"])


class Checkpoint(Strict):
    every: PositiveInt  # optimizer steps
    keep: PositiveInt = 2


class Distribution(Strict):
    """How one run's steps are spread over replicas (docs/spec/v1-semantics.md, "Data parallelism").

    The global batch stays `data.batch_size`: replica r of N gets a contiguous shard of every batch, the
    gradient is the mean over the whole global batch, and randomness is indexed by global sample, so N changes
    nothing but the order of additions, except batch-norm statistics under `batch_norm: local`."""

    strategy: Literal["data_parallel"]
    replicas: PositiveInt = 1
    batch_norm: Literal["local", "sync"] | None = None  # required when the model has batch_norm


class Recipe(Document):
    kind: Literal["Recipe"]
    model: str | dict  # a relative path to a Model document, or the Model document inline
    seed: NonNegativeInt
    dtype: FloatDType = "float32"
    data: Data
    loss: Loss
    optimizer: Optimizer
    schedule: Schedule = Field(default_factory=lambda: Constant(type="constant"))
    regularization: Regularization = Field(default_factory=Regularization)
    gradient_clipping: GradientClipping | None = None
    training: Training
    evaluation: Evaluation = Field(default_factory=Evaluation)
    checkpoint: Checkpoint | None = None
    workers: PositiveInt = 1  # deprecated: `distribution.replicas` (anything but 1 is refused with that hint)
    distribution: Distribution | None = None  # data-parallel replicas; None: one process

    @field_validator("model", mode="before")
    @classmethod
    def _inline_model(cls, value: object) -> object:
        """A Model built in Python is held inline as its document (what a file would hold); JSON Schema unchanged."""
        return value.model_dump(mode="json", exclude_defaults=True) if isinstance(value, Model) else value


# --------------------------------------------------------------------------------------- Environment
class Tolerance(Strict):
    rtol: NonNegativeFloat
    atol: NonNegativeFloat


class LatencyBudget(Strict):
    batch_size: PositiveInt = 1
    p50_ms: PositiveFloat | None = None
    p99_ms: PositiveFloat | None = None


class Quantization(Strict):
    """How an int8 target is quantized from the float32 export (onnxruntime.quantization)."""

    mode: Literal["dynamic", "static"] = "dynamic"
    calibration_samples: PositiveInt = 256  # static: the first samples of the recipe's training data


DeployDType = Literal["float32", "float64", "float16", "int8"]


class Environment(Document):
    kind: Literal["Environment"]
    runtime: Literal["onnxruntime", "torch", "tensorflow"]
    device: Annotated[str, Field(pattern=r"^(cpu|cuda(:\d+)?|gpu(:\d+)?)$")] = "cpu"
    dtype: DeployDType = "float32"
    batch_sizes: list[PositiveInt] = Field(default_factory=lambda: [1], min_length=1)
    opset: Annotated[int, Field(ge=13, le=23)] = 17
    threads: PositiveInt = 1
    requirements: dict[str, str] = Field(default_factory=dict)  # package -> PEP 440 specifier
    tolerance: Tolerance | None = None  # required except for int8 (semantics.check_environment)
    quantization: Quantization | None = None  # int8 only; None: dynamic
    max_metric_drop: dict[Metric, NonNegativeFloat] | None = None  # required for int8
    latency_budget: LatencyBudget | None = None


KINDS: dict[str, type[Document]] = {"Model": Model, "Recipe": Recipe, "Environment": Environment}
AnyDocument = Annotated[Union[Model, Recipe, Environment], Field(discriminator="kind")]
