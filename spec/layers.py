"""Layers of spec v1: fields, defaults, shape rules and canonical parameters, one class per construct.

Conventions the standard fixes (see docs/spec/v1.md): shapes here are per sample (no batch axis);
activations are channels-first like ONNX ([C, L] for conv1d, [C, H, W] for conv2d); sequences are
[T, F]; dense weight is [in, out]; conv kernel is [out, in/groups, *k]; recurrent kernels are
[in, gates*units] with LSTM gates (i, f, g, o) and GRU gates (r, z, n).
Each class has `output_shape(inputs)` and `parameters(inputs)`; the reference's math for a class
lives in `lockstep/reference/layers/<type>.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, field_validator

from lockstep.spec.base import (
    Int,
    Name,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Real,
    Shape,
    ShapeError,
    Strict,
)
from lockstep.spec.initializers import (
    EMBEDDING_UNIFORM,
    GLOROT_UNIFORM,
    ONES,
    ORTHOGONAL,
    ZEROS,
    Initializer,
)


@dataclass(frozen=True)
class ParamSpec:
    """A parameter's canonical shape and standard default initializer, with the fans initializers use."""

    shape: Shape
    initializer: object
    fan_in: int
    fan_out: int
    trainable: bool = True  # False for buffers such as batch-norm running statistics


def _param(shape: Shape, init: object, fan_in: int | None = None, fan_out: int | None = None,
           trainable: bool = True) -> ParamSpec:
    fi = fan_in if fan_in is not None else (shape[0] if shape else 1)
    fo = fan_out if fan_out is not None else (shape[-1] if shape else 1)
    return ParamSpec(tuple(shape), init, fi, fo, trainable)


class LayerBase(Strict):
    """Fields common to every layer. `inputs` is used in graph models only."""

    name: Name | None = Field(None, description=(
        "The layer's name. In a sequence it defaults to `<type>_<index>`; in a graph it is required. Names are "
        "unique within a model and differ from input names."))
    inputs: list[Name] | None = Field(None, description=(
        "Graph models only: the names of the model inputs or nodes this node takes, in order. Not allowed in "
        "`layers`."))
    initializers: dict[str, Initializer] = Field(default_factory=dict, description=(
        "Parameter name (`weight`, `bias`, `weight_hh`, ...) to initializer, replacing that parameter's default. "
        "Unknown names are errors."))

    arity: ClassVar[int] = 1  # class constant: number of inputs (0 = two or more)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        raise NotImplementedError

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        return {}

    def buffers(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        """Non-trainable state updated in training (e.g. running statistics)."""
        return {}

    def ties(self) -> dict[str, tuple[str, str]]:
        """Parameters this layer uses but another layer owns: short name -> (owner's layer name, its short name).
        They are not in `parameters()`: the model keeps one array, under the owner's canonical name."""
        return {}

    @property
    def input_dtype(self) -> str:
        return "float"


def _rank_at_least(layer: str, shape: Shape, rank: int, what: str) -> None:
    if len(shape) < rank:
        raise ShapeError(f"{layer} expects {what}, got per-sample shape {list(shape)}")


def _rank_exactly(layer: str, shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{layer} expects {what}, got per-sample shape {list(shape)}")


# --------------------------------------------------------------------------------------------- dense
class Dense(LayerBase):
    """y = x @ weight + bias over the last axis; weight [in, units]."""

    type: Literal["dense"] = Field(description="`dense`: a fully connected layer over the last axis.")
    units: PositiveInt = Field(description="Output features.")
    use_bias: bool = Field(True, description="Add `bias` after the matrix product.")
    tied_to: Name | None = Field(None, description="The name of an `embedding` layer whose table `[units, in]` "
                                                   "this layer uses, transposed, as its weight (tied input and "
                                                   "output embeddings: `y = x · tableᵀ`); the layer then has no "
                                                   "`weight` of its own, and gradients of both uses add up in "
                                                   "the one table.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (x,) = inputs
        _rank_at_least("dense", x, 1, "at least one feature axis [..., in]")
        return (*x[:-1], self.units)

    def ties(self) -> dict[str, tuple[str, str]]:
        return {"weight": (self.tied_to, "weight")} if self.tied_to else {}

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        n_in = inputs[0][-1]
        p = {} if self.tied_to else {"weight": _param((n_in, self.units), GLOROT_UNIFORM)}
        if self.use_bias:
            p["bias"] = _param((self.units,), ZEROS, n_in, self.units)
        return p


# ---------------------------------------------------------------------------------------------- conv
Padding1d = Union[Literal["valid", "same"], NonNegativeInt, list[NonNegativeInt]]


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """'same': output = ceil(size / stride); the odd padding element goes at the end (bottom/right)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int]) -> int:
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def _tuple(v: int | list[int], n: int, what: str) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    if len(v) != n:
        raise ShapeError(f"{what} needs {n} values, got {list(v)}")
    return tuple(v)


def resolve_padding(padding, sizes: Shape, kernel: tuple[int, ...], stride: tuple[int, ...],
                    dilation: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Padding as (before, after) per spatial axis. Explicit lists are [p] * n (symmetric per axis)
    or, written out, [before_0, after_0, before_1, after_1, ...]."""
    n = len(sizes)
    if padding == "valid":
        return ((0, 0),) * n
    if padding == "same":
        return tuple(same_padding(sizes[i], kernel[i], stride[i], dilation[i]) for i in range(n))
    if isinstance(padding, int):
        return ((padding, padding),) * n
    if len(padding) == n:
        return tuple((p, p) for p in padding)
    if len(padding) == 2 * n:
        return tuple((padding[2 * i], padding[2 * i + 1]) for i in range(n))
    raise ShapeError(f"explicit padding needs {n} or {2 * n} values, got {list(padding)}")


class _Conv(LayerBase):
    filters: PositiveInt = Field(description="Output channels.")
    kernel_size: PositiveInt | list[PositiveInt] = Field(description=(
        "Window size: one integer for every spatial axis, or one per axis."))
    stride: PositiveInt | list[PositiveInt] = Field(1, description=(
        "Step between windows: one integer, or one per spatial axis."))
    padding: Padding1d = Field("valid", description=(
        "`valid` (none), `same` (output `ceil(size / stride)`, extra element at the end), an integer (that many on "
        "both sides of every axis), one integer per axis, or `[before, after]` pairs for every axis in order."))
    dilation: PositiveInt | list[PositiveInt] = Field(1, description=(
        "Spacing between kernel taps: one integer, or one per spatial axis."))
    groups: PositiveInt = Field(1, description=(
        "Split input and output channels into this many groups convolved separately; must divide both. `groups` = "
        "channels = filters is a depthwise convolution."))
    use_bias: bool = Field(True, description="Add a per-filter `bias`.")

    spatial: ClassVar[int] = 1  # class constant

    def geometry(self, x: Shape):
        n = self.spatial
        k = _tuple(self.kernel_size, n, "kernel_size")
        s = _tuple(self.stride, n, "stride")
        d = _tuple(self.dilation, n, "dilation")
        pads = resolve_padding(self.padding, x[1:], k, s, d)
        return k, s, d, pads

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (x,) = inputs
        n = self.spatial
        layout = "[C, L]" if n == 1 else "[C, H, W]"
        _rank_exactly(self.type, x, n + 1, f"a channels-first input {layout}")
        c = x[0]
        if c % self.groups or self.filters % self.groups:
            raise ShapeError(
                f"{self.type}: groups={self.groups} must divide input channels ({c}) and filters ({self.filters})"
            )
        k, s, d, pads = self.geometry(x)
        out = tuple(conv_output_size(x[1 + i], k[i], s[i], d[i], pads[i]) for i in range(n))
        if any(o <= 0 for o in out):
            raise ShapeError(
                f"{self.type}: kernel {list(k)} with dilation {list(d)} does not fit input {list(x)} "
                f"with padding {[list(p) for p in pads]}"
            )
        return (self.filters, *out)

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        c = inputs[0][0]
        k = _tuple(self.kernel_size, self.spatial, "kernel_size")
        rf = math.prod(k)
        cin = c // self.groups
        p = {"weight": _param((self.filters, cin, *k), GLOROT_UNIFORM, cin * rf, self.filters * rf)}
        if self.use_bias:
            p["bias"] = _param((self.filters,), ZEROS, cin * rf, self.filters * rf)
        return p


class Conv1d(_Conv):
    """Cross-correlation over [C, L]; kernel [filters, C/groups, k]."""

    type: Literal["conv1d"] = Field(description="`conv1d`: a 1-D convolution (cross-correlation) over `[C, L]`.")
    spatial: ClassVar[int] = 1


class Conv2d(_Conv):
    """Cross-correlation over [C, H, W]; kernel [filters, C/groups, kh, kw]."""

    type: Literal["conv2d"] = Field(description="`conv2d`: a 2-D convolution (cross-correlation) over `[C, H, W]`.")
    spatial: ClassVar[int] = 2


# --------------------------------------------------------------------------------------------- pools
class _Pool2d(LayerBase):
    kernel_size: PositiveInt | list[PositiveInt] = Field(description=(
        "Window size: one integer for both axes, or `[kh, kw]`."))
    stride: PositiveInt | list[PositiveInt] | None = Field(None, description=(
        "Step between windows, one integer or `[sh, sw]`; `null`: equal to `kernel_size`."))
    padding: Padding1d = Field("valid", description=(
        "As for convolutions. Every padding amount must be smaller than the window."))

    def geometry(self, x: Shape):
        k = _tuple(self.kernel_size, 2, "kernel_size")
        s = _tuple(self.stride, 2, "stride") if self.stride is not None else k
        pads = resolve_padding(self.padding, x[1:], k, s, (1, 1))
        return k, s, pads

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (x,) = inputs
        _rank_exactly(self.type, x, 3, "a channels-first input [C, H, W]")
        k, s, pads = self.geometry(x)
        for i in range(2):
            if pads[i][0] >= k[i] or pads[i][1] >= k[i]:
                raise ShapeError(f"{self.type}: padding {list(pads[i])} must be smaller than the window {k[i]}")
        out = tuple(conv_output_size(x[1 + i], k[i], s[i], 1, pads[i]) for i in range(2))
        if any(o <= 0 for o in out):
            raise ShapeError(f"{self.type}: window {list(k)} does not fit input {list(x)}")
        return (x[0], *out)


class MaxPool2d(_Pool2d):
    """Max over windows; padded positions never win (padding is -inf)."""

    type: Literal["max_pool2d"] = Field(description="`max_pool2d`: the maximum over each window of `[C, H, W]`.")


class AvgPool2d(_Pool2d):
    """Mean over the window's positions that lie inside the input (padding is not counted)."""

    type: Literal["avg_pool2d"] = Field(description=(
        "`avg_pool2d`: the mean over each window of `[C, H, W]` (padding not counted)."))


class GlobalAvgPool(LayerBase):
    """[C, *spatial] -> [C]: mean over every spatial axis."""

    type: Literal["global_avg_pool"] = Field(description=(
        "`global_avg_pool`: the mean over every spatial axis, `[C, ...]` to `[C]`."))

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (x,) = inputs
        _rank_at_least("global_avg_pool", x, 2, "a channels-first input [C, *spatial]")
        return (x[0],)


# ----------------------------------------------------------------------------------------- reshaping
class Flatten(LayerBase):
    """[d1, ..., dn] -> [d1*...*dn] in row-major order of the channels-first layout."""

    type: Literal["flatten"] = Field(description="`flatten`: every per-sample axis into one, in row-major order.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (math.prod(inputs[0]),)


class Reshape(LayerBase):
    """Per-sample reshape in row-major order; at most one -1."""

    type: Literal["reshape"] = Field(description="`reshape`: a per-sample reshape in row-major order.")
    shape: list[Int] = Field(min_length=1, description=(
        "The per-sample target shape (no batch axis), row-major; one entry may be `-1` (inferred). Zero and other "
        "negative sizes are errors."), json_schema_extra={  # `_check` in the schema too (check-jsonschema, editors)
        "items": {"type": "integer", "minimum": -1, "maximum": 2**63 - 1, "not": {"const": 0}},
        "contains": {"const": -1}, "minContains": 0, "maxContains": 1})

    @field_validator("shape")
    @classmethod
    def _check(cls, v: list[int]) -> list[int]:
        if sum(1 for d in v if d == -1) > 1 or any(d == 0 or d < -1 for d in v):
            raise ValueError("shape entries must be positive, with at most one -1")
        return v

    def output_shape(self, inputs: list[Shape]) -> Shape:
        n = math.prod(inputs[0])
        known = math.prod(d for d in self.shape if d != -1)
        if -1 in self.shape:
            if n % known:
                raise ShapeError(f"reshape: cannot reshape {list(inputs[0])} ({n} values) into {self.shape}")
            return tuple(n // known if d == -1 else d for d in self.shape)
        if known != n:
            raise ShapeError(f"reshape: cannot reshape {list(inputs[0])} ({n} values) into {self.shape} ({known})")
        return tuple(self.shape)


# ------------------------------------------------------------------------------------ regularization
class Dropout(LayerBase):
    """Eval: identity. Train: x * mask / (1 - rate), mask ~ Bernoulli(1 - rate) from the standard's stream."""

    type: Literal["dropout"] = Field(description=(
        "`dropout`: zeroes values with probability `rate` in training (the standard's masks); identity in evaluation."))
    rate: Probability = Field(description=(
        "Probability of dropping each value in training; kept values are scaled by `1 / (1 - rate)`."))

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]


class BatchNorm(LayerBase):
    """Normalizes over batch and spatial axes per channel (axis 0 of the per-sample shape).

    Train: biased batch variance normalizes; running stats update as
    running = (1 - momentum) * running + momentum * batch_stat, with the *unbiased* batch variance.
    Eval: uses the running statistics.
    """

    type: Literal["batch_norm"] = Field(description=(
        "`batch_norm`: normalizes each channel over the batch (running statistics in evaluation)."))
    momentum: Annotated[Real, Field(gt=0.0, le=1.0)] = Field(0.1, description=(
        "Weight of the NEW batch statistic in the running averages (PyTorch's convention; Keras's `momentum=0.99` is "
        "`0.01` here)."))
    epsilon: PositiveFloat = Field(1e-5, description="Added to the variance inside the square root.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _rank_at_least("batch_norm", inputs[0], 1, "a channel axis [C, ...]")
        return inputs[0]

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        c = inputs[0][0]
        return {"weight": _param((c,), ONES), "bias": _param((c,), ZEROS)}

    def buffers(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        c = inputs[0][0]
        return {
            "running_mean": _param((c,), ZEROS, trainable=False),
            "running_var": _param((c,), ONES, trainable=False),
        }


class LayerNorm(LayerBase):
    """Normalizes each sample over its last `dims` axes (biased variance), then weight * x_hat + bias."""

    type: Literal["layer_norm"] = Field(description="`layer_norm`: normalizes each sample over its last `dims` axes.")
    dims: PositiveInt = Field(1, description="Normalize each sample over its last `dims` axes.")
    epsilon: PositiveFloat = Field(1e-5, description="Added to the variance inside the square root.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _rank_at_least("layer_norm", inputs[0], self.dims, f"at least {self.dims} axes (dims={self.dims})")
        return inputs[0]

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        shape = tuple(inputs[0][-self.dims:])
        return {"weight": _param(shape, ONES), "bias": _param(shape, ZEROS)}


class RMSNorm(LayerBase):
    """Root-mean-square normalization over the last `dims` axes (no centring): x / √(mean(x²) + ε), ε inside the
    root as torch.nn.RMSNorm and keras.layers.RMSNormalization place it, then times a learned `weight`."""

    type: Literal["rms_norm"] = Field(description="`rms_norm`: root-mean-square normalization (no mean subtracted).")
    dims: PositiveInt = Field(1, description="Normalize each sample over its last `dims` axes.")
    epsilon: PositiveFloat = Field(1e-6, description="Added to the mean of squares inside the square root: "
                                                     "`x / sqrt(mean(x²) + epsilon)`.")
    scale: bool = Field(True, description="Multiply by a learned `weight` (shaped like the normalized axes); "
                                          "`false`: no parameter.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        _rank_at_least("rms_norm", inputs[0], self.dims, f"at least {self.dims} axes (dims={self.dims})")
        return inputs[0]

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        return {"weight": _param(tuple(inputs[0][-self.dims:]), ONES)} if self.scale else {}


# ----------------------------------------------------------------------------------------- embedding
class Embedding(LayerBase):
    """Integer indices [...] -> [..., output_dim] by row lookup in weight [input_dim, output_dim]."""

    type: Literal["embedding"] = Field(description=(
        "`embedding`: integer indices to rows of a `[input_dim, output_dim]` matrix."))
    input_dim: PositiveInt = Field(description="Vocabulary size: indices must lie in `[0, input_dim)`.")
    output_dim: PositiveInt = Field(description="Length of each embedding vector.")

    @property
    def input_dtype(self) -> str:
        return "int"

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (*inputs[0], self.output_dim)

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        return {"weight": _param((self.input_dim, self.output_dim), EMBEDDING_UNIFORM)}


class PositionalEmbedding(LayerBase):
    """Adds a position code to a sequence [T, d]: a learned table's first T rows, or the sinusoidal code of
    Vaswani et al. (sin on even columns, cos on odd ones; docs/spec/v1-semantics.md, "positional_embedding")."""

    type: Literal["positional_embedding"] = Field(
        description="`positional_embedding`: adds a position code to every step of a sequence `[T, d]`.")
    encoding: Literal["learned", "sinusoidal"] = Field(
        description="`learned`: a trained table `weight` `[max_length, d]`, row `t` added at position `t`. "
                    "`sinusoidal`: the fixed code `sin(t·ω_i)` in column `2i`, `cos(t·ω_i)` in column `2i+1`, "
                    "`ω_i = base^(-2i/d)` (interleaved, as Vaswani et al.); no parameters.")
    max_length: PositiveInt = Field(description="The longest sequence accepted: `T <= max_length` (the learned "
                                                "table's number of rows).")
    base: PositiveFloat = Field(10000.0, description="`sinusoidal` only: the wavelength base of `ω_i = "
                                                     "base^(-2i/d)`.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (x,) = inputs
        _rank_exactly("positional_embedding", x, 2, "a sequence [T, d]")
        if x[0] > self.max_length:
            raise ShapeError(f"positional_embedding: the sequence has {x[0]} steps, more than max_length="
                             f"{self.max_length}")
        return x

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        if self.encoding != "learned":
            return {}
        d = inputs[0][-1]
        return {"weight": _param((self.max_length, d), EMBEDDING_UNIFORM)}


# ----------------------------------------------------------------------------------------- recurrent
class _Recurrent(LayerBase):
    units: PositiveInt = Field(description="Hidden state size `H`.")
    return_sequences: bool = Field(False, description=(
        "`true`: output every step's hidden state `[T, H]`; `false`: the last one, `[H]`."))

    gates: ClassVar[int] = 1  # class constant

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (x,) = inputs
        _rank_exactly(self.type, x, 2, "a sequence [T, features]")
        return (x[0], self.units) if self.return_sequences else (self.units,)


class LSTM(_Recurrent):
    """Gates (i, f, g, o); zero initial state; one bias. weight_ih [F, 4H], weight_hh [H, 4H], bias [4H]."""

    type: Literal["lstm"] = Field(description=(
        "`lstm`: a long short-term memory layer over a sequence `[T, F]`, gates (i, f, g, o)."))
    gates: ClassVar[int] = 4

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        f, h = inputs[0][-1], self.units
        return {
            "weight_ih": _param((f, 4 * h), GLOROT_UNIFORM),
            "weight_hh": _param((h, 4 * h), ORTHOGONAL),
            "bias": _param((4 * h,), ZEROS),
        }


class GRU(_Recurrent):
    """Gates (r, z, n), reset applied after the recurrent matmul ("reset_after"); two biases.

    r = σ(x W_ir + b_ir + h W_hr + b_hr); z = σ(x W_iz + b_iz + h W_hz + b_hz);
    n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn)); h' = (1 - z) ⊙ n + z ⊙ h.
    """

    type: Literal["gru"] = Field(description=(
        "`gru`: a gated recurrent unit over a sequence `[T, F]`, gates (r, z, n), reset after the recurrent product."))
    gates: ClassVar[int] = 3

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        f, h = inputs[0][-1], self.units
        return {
            "weight_ih": _param((f, 3 * h), GLOROT_UNIFORM),
            "weight_hh": _param((h, 3 * h), ORTHOGONAL),
            "bias_ih": _param((3 * h,), ZEROS),
            "bias_hh": _param((3 * h,), ZEROS),
        }


class Rotary(Strict):
    """Rotary position embedding (RoPE, Su et al.) of the queries and keys, per head, after their projections."""

    base: PositiveFloat = Field(10000.0, description="The frequency base: pair `i` of a head of size `d` turns "
                                                     "by `t·base^(-2i/d)` at position `t`.")
    pairing: Literal["half_split", "interleaved"] = Field(
        "half_split", description="Which columns of a head rotate together: `half_split` pairs `(i, i + d/2)` "
                                  "(GPT-NeoX, Hugging Face Llama, KerasHub); `interleaved` pairs `(2i, 2i + 1)` "
                                  "(the RoFormer paper, Meta's original Llama code).")


class MultiHeadAttention(LayerBase):
    """Self-attention over [T, E]: softmax(Q K^T / sqrt(E/heads) + mask) V per head, then the output projection.

    Projections are dense ([E, E] weights, [in, out] layout); heads split E in order; `causal` masks j > i.
    """

    type: Literal["multi_head_attention"] = Field(description=(
        "`multi_head_attention`: self-attention over a sequence `[T, E]`."))
    num_heads: PositiveInt = Field(description="Number of heads; must divide the embedding size `E`.")
    causal: bool = Field(False, description="Mask future positions: position `i` attends to `j <= i` only.")
    use_bias: bool = Field(True, description="Give each of the four projections a bias.")
    rotary: Rotary | None = Field(None, description="Rotate queries and keys by position (RoPE) before the "
                                                    "scores; the head size must be even. Absent: no rotation.")

    def output_shape(self, inputs: list[Shape]) -> Shape:
        (x,) = inputs
        _rank_exactly("multi_head_attention", x, 2, "a sequence [T, E]")
        if x[1] % self.num_heads:
            raise ShapeError(
                f"multi_head_attention: embedding size {x[1]} is not divisible by num_heads={self.num_heads}"
            )
        if self.rotary is not None and (x[1] // self.num_heads) % 2:
            raise ShapeError(f"multi_head_attention: rotary needs an even head size, got E/num_heads = "
                             f"{x[1]}/{self.num_heads} = {x[1] // self.num_heads}")
        return x

    def parameters(self, inputs: list[Shape]) -> dict[str, ParamSpec]:
        e = inputs[0][1]
        p: dict[str, ParamSpec] = {}
        for proj in ("query", "key", "value", "output"):
            p[f"{proj}_weight"] = _param((e, e), GLOROT_UNIFORM)
            if self.use_bias:
                p[f"{proj}_bias"] = _param((e,), ZEROS, e, e)
        return p


# --------------------------------------------------------------------------------------- activations
class _Elementwise(LayerBase):
    def output_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]


class ReLU(_Elementwise):
    type: Literal["relu"] = Field(description="`relu`: `max(x, 0)`.")


class LeakyReLU(_Elementwise):
    """x if x > 0 else negative_slope * x (Keras's default slope is 0.3; the standard's is 0.01)."""

    type: Literal["leaky_relu"] = Field(description=(
        "`leaky_relu`: `x` for positive `x`, `negative_slope * x` otherwise."))
    negative_slope: NonNegativeFloat = Field(0.01, description=(
        "Slope for negative inputs (Keras's default is 0.3; the standard's is 0.01, as PyTorch's)."))


class ELU(_Elementwise):
    type: Literal["elu"] = Field(description="`elu`: `x` for positive `x`, `alpha (exp(x) - 1)` otherwise.")
    alpha: PositiveFloat = Field(1.0, description="Saturation value for negative inputs: `alpha (exp(x) - 1)`.")


class GELU(_Elementwise):
    """approximate: none -> x Φ(x) (erf); tanh -> 0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³)))."""

    type: Literal["gelu"] = Field(description="`gelu`: `x Φ(x)`, exact or by the tanh approximation.")
    approximate: Literal["none", "tanh"] = Field("none", description=(
        "`none`: exact, with the normal CDF via erf. `tanh`: the tanh approximation."))


class SiLU(_Elementwise):
    type: Literal["silu"] = Field(description="`silu`: `x σ(x)` (swish).")


class Sigmoid(_Elementwise):
    type: Literal["sigmoid"] = Field(description="`sigmoid`: `1 / (1 + exp(-x))`.")


class Tanh(_Elementwise):
    type: Literal["tanh"] = Field(description="`tanh`: the hyperbolic tangent.")


class _AxisActivation(_Elementwise):
    axis: Int = Field(-1, description=(
        "Per-sample axis to normalize over (no batch axis); negative counts from the end."))

    def output_shape(self, inputs: list[Shape]) -> Shape:
        x = inputs[0]
        if not -len(x) <= self.axis < len(x):
            raise ShapeError(f"{self.type}: axis {self.axis} is out of range for per-sample shape {list(x)}")
        return x


class Softmax(_AxisActivation):
    type: Literal["softmax"] = Field(description="`softmax`: probabilities over one axis.")


class LogSoftmax(_AxisActivation):
    type: Literal["log_softmax"] = Field(description="`log_softmax`: log-probabilities over one axis.")


# ------------------------------------------------------------------------------------------- merging
class Add(LayerBase):
    """Elementwise sum of two or more inputs of one shape (no broadcasting)."""

    type: Literal["add"] = Field(description="`add`: the elementwise sum of two or more inputs of one shape.")
    arity: ClassVar[int] = 0

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs) < 2:
            raise ShapeError(f"add needs at least two inputs, got {len(inputs)}")
        if any(s != inputs[0] for s in inputs):
            raise ShapeError(f"add needs inputs of one shape, got {[list(s) for s in inputs]}")
        return inputs[0]


class Multiply(LayerBase):
    """Elementwise product of two or more inputs of one shape (no broadcasting), left to right: gated MLPs."""

    type: Literal["multiply"] = Field(description="`multiply`: elementwise product of two or more inputs of one "
                                                  "shape (graph models).")
    arity: ClassVar[int] = 0

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs) < 2:
            raise ShapeError(f"multiply needs at least two inputs, got {len(inputs)}")
        if any(s != inputs[0] for s in inputs):
            raise ShapeError(f"multiply needs inputs of one shape, got {[list(s) for s in inputs]}")
        return inputs[0]


class Concat(LayerBase):
    """Concatenation along a per-sample axis (default 0: the channel axis of the channels-first layout)."""

    type: Literal["concat"] = Field(description="`concat`: two or more inputs joined along one axis.")
    axis: Int = Field(0, description=(
        "Per-sample axis to join along (no batch axis); 0 is the channel axis of a channels-first shape. Negative "
        "counts from the end."))
    arity: ClassVar[int] = 0

    def output_shape(self, inputs: list[Shape]) -> Shape:
        if len(inputs) < 2:
            raise ShapeError(f"concat needs at least two inputs, got {len(inputs)}")
        rank = len(inputs[0])
        if any(len(s) != rank for s in inputs) or not -rank <= self.axis < rank:
            raise ShapeError(f"concat: axis {self.axis} does not fit inputs {[list(s) for s in inputs]}")
        ax = self.axis % rank
        for s in inputs:
            if s[:ax] + s[ax + 1:] != inputs[0][:ax] + inputs[0][ax + 1:]:
                raise ShapeError(
                    f"concat along axis {self.axis} needs the other axes equal, got {[list(s) for s in inputs]}"
                )
        return (*inputs[0][:ax], sum(s[ax] for s in inputs), *inputs[0][ax + 1:])


LAYER_CLASSES = (
    Dense, Conv1d, Conv2d, MaxPool2d, AvgPool2d, GlobalAvgPool, Flatten, Reshape, Dropout, BatchNorm,
    LayerNorm, RMSNorm, Embedding, PositionalEmbedding, LSTM, GRU, MultiHeadAttention, ReLU, LeakyReLU, ELU, GELU,
    SiLU, Sigmoid, Tanh, Softmax, LogSoftmax, Add, Multiply, Concat,
)

Layer = Annotated[Union[LAYER_CLASSES], Field(discriminator="type")]

LAYER_TYPES: dict[str, type[LayerBase]] = {
    t: cls for cls in LAYER_CLASSES for t in cls.model_fields["type"].annotation.__args__
}
