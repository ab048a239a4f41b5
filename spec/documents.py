"""The three document kinds of spec v1: Model, Recipe, Environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, field_validator, model_validator

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
    apiVersion: Literal["lockstep/v1"] = Field(description=(
        "The spec version the document was written against (`lockstep/v1`); `lockstep migrate` rewrites documents of "
        "older versions."))
    metadata: Metadata = Field(description="The document's name, and free text and labels for people and tools.")

    def __copy__(self) -> Any:
        copied = super().__copy__()
        for hook in COPY_HOOKS:
            hook(self, copied)
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        copied = super().__deepcopy__(memo)
        for hook in COPY_HOOKS:
            hook(self, copied)
        return copied


COPY_HOOKS: list[Callable[[Document, Document], None]] = []
"""Called with (original, copy) for every copy of a document (`model_copy`, `copy.copy`, `copy.deepcopy`): the
API keeps a loaded document's file beside it (`lockstep.provenance`), and a copy's relative paths (its model,
data and weights) mean the same files as its original's."""


# --------------------------------------------------------------------------------------------- Model
class Input(Strict):
    name: Name = Field(description="The input's name; graph nodes refer to it in their `inputs`.")
    shape: list[PositiveInt] = Field(min_length=0, description=(
        "Per-sample shape (no batch axis), e.g. `[64]`, `[1, 8, 8]` (channels first), `[16, 2]` (a sequence `[T, "
        "F]`). `[]` is a scalar per sample."))
    dtype: Literal["float", "int64"] = Field("float", description=(
        "`float`: floating point in the recipe's `dtype`. `int64`: integer indices, which only an `embedding` may "
        "take."))


class WeightsFile(Strict):
    """A local .npz of canonical names -> arrays in canonical layout, relative to the model's folder."""

    path: str = Field(description=(
        "A `.npz` file relative to the model document's folder. Keys are canonical names (`dense_0.weight`, buffers "
        "included), arrays in canonical layout."))
    strict: bool = Field(True, description=(
        "`true`: every parameter and buffer must be in the file and nothing else. `false`: arrays present are "
        "loaded, the rest are initialized as usual, unknown keys are ignored."))


def _not_null(*names: str) -> dict[str, Any]:
    """Schema properties saying each of `names`, where given, is not null (with `required`: given and not null)."""
    return {name: {"not": {"type": "null"}} for name in names}


def _absent(*names: str) -> dict[str, Any]:
    return {name: {"type": "null"} for name in names}


class Model(Document):
    """A sequence (`layers`) or a graph (`nodes` with `inputs`, and `outputs`)."""

    # the one-form rule in the schema too, so that an editor and check-jsonschema refuse what validate does
    model_config = ConfigDict(**Document.model_config, json_schema_extra={"oneOf": [
        {"required": ["layers"], "properties": {
            "layers": {**_not_null("layers")["layers"], "items": {"properties": _absent("inputs")}},  # a sequence's
            **_absent("nodes", "outputs"), "inputs": {"maxItems": 1}}},  # layers name no inputs; one model input
        {"required": ["nodes", "outputs"], "properties": {
            **_absent("layers"), "outputs": {"type": "array", "minItems": 1},
            # one `nodes` entry: two (not null, then the items) kept only the last, and `nodes: null` passed
            "nodes": {**_not_null("nodes")["nodes"], "items": {"required": ["name", "inputs"], "properties": {
                **_not_null("name"), "inputs": {**_not_null("inputs")["inputs"], "minItems": 1}}}}}}]})

    kind: Literal["Model"] = Field(description=(
        "`Model`: a neural network (inputs, and layers as a sequence or a graph)."))
    inputs: list[Input] = Field(min_length=1, description=(
        "The model's named inputs, in order. A sequence model (`layers`) has exactly one; a recipe in v1 trains "
        "models with one input."))
    layers: list[Layer] | None = Field(None, description=(
        "A sequence: each layer takes the previous layer's output (the first takes the input). Give either `layers` "
        "or `nodes`, never both."))
    nodes: list[Layer] | None = Field(None, description=(
        "A graph: every node has a `name` and `inputs` naming model inputs or other nodes. Give either `layers` or "
        "`nodes`."))
    outputs: list[Name] | None = Field(None, description=(
        "Graph models only (required there): the names of the nodes whose values are the model's outputs, in order."))
    weights: WeightsFile | None = Field(None, description=(
        "Start from parameters stored in a local `.npz` instead of the initializers."))

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

    l2: NonNegativeFloat = Field(0.0, description=(
        "Coupled L2: `l2 * w` is added to every trainable parameter's gradient after clipping, before the optimizer. "
        "It is not part of the reported loss."))


class Training(Strict):
    model_config = ConfigDict(**Strict.model_config, json_schema_extra={  # exactly one, in the schema too
        "oneOf": [{"required": [f], "properties": _not_null(f)} for f in ("steps", "epochs")]})

    steps: PositiveInt | None = Field(None, description=(
        "Train for this many optimizer steps (give `steps` or `epochs`, not both)."))
    epochs: PositiveInt | None = Field(None, description=(
        "Train for this many passes over the training split: `epochs * steps_per_epoch` optimizer steps."))

    @model_validator(mode="after")
    def _one(self) -> Training:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("training needs exactly one of `steps` or `epochs`")
        return self


class Evaluation(Strict):
    every: PositiveInt | None = Field(None, description=(
        "Evaluate after every this many optimizer steps, and always after the last one; `null`: after the last step "
        "only."))
    metrics: list[Metric] = Field(default_factory=lambda: ["loss"], description=(
        "Metrics computed in evaluation mode on the validation split (on the training split when `validation` is 0)."))


class Checkpoint(Strict):
    every: PositiveInt = Field(description=(
        "Write a checkpoint after every this many optimizer steps, and after the last."))
    keep: PositiveInt = Field(2, description="How many of the newest checkpoints to keep; older ones are deleted.")


class Distribution(Strict):
    """How one run's steps are spread over replicas (docs/spec/v1-semantics.md, "Data parallelism").

    The global batch stays `data.batch_size`: replica r of N gets a contiguous shard of every batch, the
    gradient is the mean over the whole global batch, and randomness is indexed by global sample, so N changes
    nothing but the order of additions, except batch-norm statistics under `batch_norm: local`."""

    strategy: Literal["data_parallel"] = Field(description=(
        "`data_parallel`: every replica holds the whole model and trains on a shard of each global batch; gradients "
        "are averaged over the global batch."))
    replicas: PositiveInt = Field(1, description=(
        "How many replicas (processes or devices) share each batch; must divide `data.batch_size`. `lockstep run "
        "--replicas N` overrides it."))
    batch_norm: Literal["local", "sync"] | None = Field(None, description=(
        "What batch-norm statistics are computed over in training: `local` (each replica's own shard) or `sync` (the "
        "whole global batch, as one process). Required when the model has `batch_norm`."))


class Recipe(Document):
    kind: Literal["Recipe"] = Field(description=(
        "`Recipe`: how to train a model (data, loss, optimizer, schedule, steps, evaluation)."))
    model: str | dict = Field(description=(
        "A path to a file holding exactly one Model document, relative to this recipe's folder (which it may not "
        "leave), or a complete Model document written inline."))
    seed: NonNegativeInt = Field(description=(
        "The root of every random choice: initial parameters, synthetic data, the split, the data order and dropout "
        "masks (docs/spec/v1.md, \"Randomness\")."))
    dtype: FloatDType = Field("float32", description=(
        "The floating-point type the backend trains in. The reference always computes in float64; the dtype decides "
        "which tolerance applies."))
    data: Data = Field(description="Where samples come from and how they are preprocessed, split and batched.")
    loss: Loss = Field(description="The training loss (also the `loss` metric).")
    optimizer: Optimizer = Field(description=(
        "The update rule and its hyper-parameters, including the base learning rate."))
    schedule: Schedule = Field(default_factory=lambda: Constant(type="constant"), description=(
        "How the learning rate changes per optimizer step (the default keeps it constant)."))
    regularization: Regularization = Field(default_factory=Regularization, description=(
        "Coupled L2 regularization (added to the gradient)."))
    gradient_clipping: GradientClipping | None = Field(None, description=(
        "Clip gradients before regularization and the optimizer; `null`: no clipping."))
    training: Training = Field(description="How long to train: `steps` or `epochs`.")
    evaluation: Evaluation = Field(default_factory=Evaluation, description=(
        "Which metrics to compute on the held-out split, and how often."))
    checkpoint: Checkpoint | None = Field(None, description=(
        "Write checkpoints (parameters, buffers, optimizer state) so a run can resume; `null`: none."))
    workers: PositiveInt = Field(1, description=(
        "Deprecated, kept so older recipes stay valid: only `1` is accepted; replicas are `distribution.replicas`."))
    distribution: Distribution | None = Field(None, description=(
        "Train on several replicas with data parallelism (docs/spec/v1.md, \"Data parallelism\"); `null`: one "
        "process, unless `lockstep run --replicas N` asks for more."))

    @field_validator("model", mode="before")
    @classmethod
    def _inline_model(cls, value: object) -> object:
        """A Model built in Python is held inline as its document (what a file would hold); JSON Schema unchanged."""
        return value.model_dump(mode="json", exclude_defaults=True) if isinstance(value, Model) else value


# --------------------------------------------------------------------------------------- Environment
class Tolerance(Strict):
    # validate's rules (spec/semantics/environment.py) in the schema too: not both 0, rtol below 1
    model_config = ConfigDict(**Strict.model_config, json_schema_extra={
        "not": {"required": ["rtol", "atol"], "properties": {"rtol": {"const": 0}, "atol": {"const": 0}}},
        "allOf": [{"properties": {"rtol": {"exclusiveMaximum": 1}}}]})  # not on the field: Real's own extra

    rtol: NonNegativeFloat = Field(description=(
        "Relative tolerance: every prediction `y` must satisfy `|y - y_ref| <= atol + rtol * |y_ref|`."))
    atol: NonNegativeFloat = Field(description="Absolute tolerance in the same inequality.")


LATENCY_LIMITS = ("p50_ms", "p99_ms")


class LatencyBudget(Strict):
    """A latency limit at one batch size: `p50_ms`, `p99_ms` or both (a budget stating neither limits nothing)."""

    model_config = ConfigDict(**Strict.model_config, json_schema_extra={
        "anyOf": [{"required": [limit], "properties": _not_null(limit)} for limit in LATENCY_LIMITS]})

    batch_size: PositiveInt = Field(1, description=(
        "The batch size latency is measured at; must be one of `batch_sizes`."))
    p50_ms: PositiveFloat | None = Field(None, description=(
        "Largest allowed median latency of one forward pass, in milliseconds."))
    p99_ms: PositiveFloat | None = Field(None, description="Largest allowed 99th-percentile latency, in milliseconds.")

    @model_validator(mode="after")
    def _limits_something(self) -> LatencyBudget:
        if self.p50_ms is None and self.p99_ms is None:  # deploy measured the latency, checked nothing and passed
            raise ValueError("a latency budget without `p50_ms` or `p99_ms` limits nothing: give the largest median "
                             "and/or 99th-percentile latency allowed, in milliseconds (e.g. `p99_ms: 2.0`), or leave "
                             "`latency_budget` out (deploy then measures the latency without judging it)")
        return self


class Quantization(Strict):
    """How an int8 target is quantized from the float32 export (onnxruntime.quantization)."""

    model_config = ConfigDict(**Strict.model_config, json_schema_extra={  # calibration is `static`'s alone
        "if": {"not": {"required": ["mode"], "properties": {"mode": {"const": "static"}}}},
        "then": {"not": {"required": ["calibration_samples"]}}})

    mode: Literal["dynamic", "static"] = Field("dynamic", description=(
        "`dynamic`: int8 weights, activations quantized at run time (`quantize_dynamic`). `static`: weights and "
        "activations, activation ranges calibrated on the recipe's training data (`quantize_static`, QDQ)."))
    calibration_samples: PositiveInt = Field(256, description=(
        "`static` only: how many samples of the recipe's training data (from the first) calibrate the activation "
        "ranges; more than the training split calibrates on all of it, and deploy says so."))


DeployDType = Literal["float32", "float64", "float16", "int8"]


class Environment(Document):
    # validate's rules across fields (spec/semantics/environment.py) in the schema too, so that an editor and
    # check-jsonschema refuse what validate refuses: int8 is judged by max_metric_drop on onnxruntime, every other
    # dtype by its tolerance, quantization is int8's; an accuracy drop below 1; `gpu` is TensorFlow's device name
    model_config = ConfigDict(**Document.model_config, json_schema_extra={"allOf": [
        {"if": {"required": ["dtype"], "properties": {"dtype": {"const": "int8"}}},
         "then": {"required": ["max_metric_drop"], "properties": {
             "max_metric_drop": {"type": "object", "minProperties": 1}, "runtime": {"const": "onnxruntime"}}},
         "else": {"required": ["tolerance"], "properties": {"tolerance": {"not": {"type": "null"}},
                                                            "quantization": {"type": "null"}}}},
        {"properties": {"max_metric_drop": {"properties": {"accuracy": {"exclusiveMaximum": 1}}}}},
        {"if": {"properties": {"runtime": {"enum": ["onnxruntime", "torch"]}}},
         "then": {"properties": {"device": {"not": {"pattern": "^gpu"}}}}}]})

    kind: Literal["Environment"] = Field(description=(
        "`Environment`: a deployment target (runtime, device, dtype, tolerance, latency budget)."))
    runtime: Literal["onnxruntime", "torch", "tensorflow"] = Field(description="The runtime the model is deployed on.")
    # [0-9], not \d: pydantic's \d takes any Unicode digit (`cuda:٣` validated, and the adapter read it as cuda:3)
    device: Annotated[str, Field(pattern=r"^(cpu|cuda(:[0-9]+)?|gpu(:[0-9]+)?)$")] = Field("cpu", description=(
        "`cpu`, `cuda` or `cuda:N` (`gpu`/`gpu:N` for TensorFlow)."))
    dtype: DeployDType = Field("float32", description=(
        "The type the deployed model computes in: `float32`, `float64`, `float16`, or `int8` (the float32 export "
        "quantized, see `quantization`)."))
    batch_sizes: list[PositiveInt] = Field(default_factory=lambda: [1], min_length=1, description=(
        "Batch sizes the deployed model must accept; predictions are checked at each."),
        json_schema_extra={"uniqueItems": True})
    opset: Annotated[int, Field(ge=13, le=23)] = Field(17, description=(
        "The ONNX opset to export with (runtime `onnxruntime`)."))
    threads: PositiveInt = Field(1, description="Intra-op threads the runtime may use.")
    requirements: dict[str, str] = Field(default_factory=dict, json_schema_extra={"propertyNames": {  # PEP 508 names
        "pattern": "^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$"}}, description=(
        "Package name to PEP 440 version specifier (`>=1.17`, `~=2.2`, `==2.13.0`) that the target must satisfy; "
        "`\"\"` accepts any version; `python` names the interpreter itself. Names compare as the package index "
        "compares them (PEP 503: `ONNX_Runtime` is `onnx-runtime`), so two entries for one package are an error."))
    tolerance: Tolerance | None = Field(None, description=(
        "How closely deployed predictions must match the float64 reference. Required, except for `int8` (judged by "
        "`max_metric_drop`; a tolerance given there is checked too)."))
    quantization: Quantization | None = Field(None, description=(
        "`int8` only: how the float32 export is quantized (`onnxruntime.quantization`); `null`: dynamic."))
    max_metric_drop: dict[Metric, NonNegativeFloat] | None = Field(None, description=(
        "Recipe metric (`accuracy`, `loss`, `mse`, `mae`) to the largest worsening allowed against the reference's "
        "value on the evaluation data (accuracy lower, by less than 1; the others higher). Required for `int8`; "
        "checked for any dtype when given."))
    latency_budget: LatencyBudget | None = Field(None, description=(
        "The latency the deployed model must stay within; `null`: not measured against a budget."))


KINDS: dict[str, type[Document]] = {"Model": Model, "Recipe": Recipe, "Environment": Environment}
AnyDocument = Annotated[Union[Model, Recipe, Environment], Field(discriminator="kind")]
