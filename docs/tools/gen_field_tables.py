"""Fill the generated tables of docs/spec/v1.md from the pydantic models, so the page cannot drift.

    python docs/tools/gen_field_tables.py           # rewrite the tables in docs/spec/v1.md in place
    python docs/tools/gen_field_tables.py --check   # exit 1 (and say which) if the page is stale

The page is written by hand; only the regions between markers are generated:

    <!-- fields: documents.Recipe -->        a field table: field | type | default | meaning
    <!-- /fields -->
    <!-- params: conv2d -->                  canonical parameters of a layer: name | shape | init | fans
    <!-- /params -->
    <!-- initializers -->                    every initializer type with its fields
    <!-- /initializers -->

Types, constraints and defaults come from the models. Meanings come from MEANINGS below, one per field:
a field added to a model without a meaning here makes this script fail, so the normative page always
describes every field. Parameter shapes are written symbolically in PARAMS and checked against the
layer's own `parameters()`/`buffers()` for a sample input, so a changed layout fails here too.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from lockstep.spec import base, data, documents, initializers, layers, losses, optimizers, schedules

PAGE = Path(__file__).resolve().parents[1] / "spec" / "v1.md"
MODULES = {m.__name__.rsplit(".", 1)[-1]: m for m in (base, data, documents, initializers, layers, losses,
                                                        optimizers, schedules)}
HEADER_FIELDS = {"apiVersion", "kind", "metadata"}  # described once, in "Every document"
LAYER_COMMON = {"name", "inputs", "initializers"}  # described once, in "Fields every layer has"

# ------------------------------------------------------------------------------------------ meanings
# Keyed by "<module>.<class that declares the field>.<field>"; looked up along the MRO.
MEANINGS: dict[str, str] = {
    # base
    "base.Metadata.name": "The document's name: reports, run folders (`runs/<name>-<backend>`) and checkpoints use it.",
    "base.Metadata.description": "Free text for people; ignored by every tool.",
    "base.Metadata.labels": "Free key/value strings for your own tooling; ignored by Lockstep.",
    # documents: Model
    "documents.Model.inputs": "The model's named inputs, in order. A sequence model (`layers`) has exactly one; "
                              "a recipe in v1 trains models with one input.",
    "documents.Model.layers": "A sequence: each layer takes the previous layer's output (the first takes the "
                              "input). Give either `layers` or `nodes`, never both.",
    "documents.Model.nodes": "A graph: every node has a `name` and `inputs` naming model inputs or other nodes. "
                             "Give either `layers` or `nodes`.",
    "documents.Model.outputs": "Graph models only (required there): the names of the nodes whose values are "
                               "the model's outputs, in order.",
    "documents.Model.weights": "Start from parameters stored in a local `.npz` instead of the initializers.",
    "documents.Input.name": "The input's name; graph nodes refer to it in their `inputs`.",
    "documents.Input.shape": "Per-sample shape (no batch axis), e.g. `[64]`, `[1, 8, 8]` (channels first), "
                             "`[16, 2]` (a sequence `[T, F]`). `[]` is a scalar per sample.",
    "documents.Input.dtype": "`float`: floating point in the recipe's `dtype`. `int64`: integer indices, which "
                             "only an `embedding` may take.",
    "documents.WeightsFile.path": "A `.npz` file relative to the model document's folder. Keys are canonical "
                                  "names (`dense_0.weight`, buffers included), arrays in canonical layout.",
    "documents.WeightsFile.strict": "`true`: every parameter and buffer must be in the file and nothing else. "
                                    "`false`: arrays present are loaded, the rest are initialized as usual, "
                                    "unknown keys are ignored.",
    # documents: Recipe
    "documents.Recipe.model": "A path to a file holding exactly one Model document, relative to this recipe's "
                              "folder, or a complete Model document written inline.",
    "documents.Recipe.seed": "The root of every random choice: initial parameters, synthetic data, the split, "
                             "the data order and dropout masks (see [Randomness](#randomness)).",
    "documents.Recipe.dtype": "The floating-point type the backend trains in. The reference always computes in "
                              "float64; the dtype decides which tolerance applies.",
    "documents.Recipe.data": "Where samples come from and how they are preprocessed, split and batched.",
    "documents.Recipe.loss": "The training loss (also the `loss` metric).",
    "documents.Recipe.optimizer": "The update rule and its hyper-parameters, including the base learning rate.",
    "documents.Recipe.schedule": "How the learning rate changes per optimizer step (the default keeps it "
                                 "constant).",
    "documents.Recipe.regularization": "Coupled L2 regularization (added to the gradient).",
    "documents.Recipe.gradient_clipping": "Clip gradients before regularization and the optimizer; `null`: no "
                                          "clipping.",
    "documents.Recipe.training": "How long to train: `steps` or `epochs`.",
    "documents.Recipe.evaluation": "Which metrics to compute on the held-out split, and how often.",
    "documents.Recipe.checkpoint": "Write checkpoints (parameters, buffers, optimizer state) so a run can "
                                   "resume; `null`: none.",
    "documents.Recipe.workers": "Deprecated, kept so older recipes stay valid: only `1` is accepted; replicas are "
                                "`distribution.replicas`.",
    "documents.Recipe.distribution": "Train on several replicas with data parallelism (see [Data "
                                     "parallelism](#data-parallelism)); `null`: one process, unless "
                                     "`lockstep run --replicas N` asks for more.",
    "documents.Distribution.strategy": "`data_parallel`: every replica holds the whole model and trains on a "
                                       "shard of each global batch; gradients are averaged over the global batch.",
    "documents.Distribution.replicas": "How many replicas (processes or devices) share each batch; must divide "
                                       "`data.batch_size`. `lockstep run --replicas N` overrides it.",
    "documents.Distribution.batch_norm": "What batch-norm statistics are computed over in training: `local` (each "
                                         "replica's own shard) or `sync` (the whole global batch, as one process). "
                                         "Required when the model has `batch_norm`.",
    "documents.Regularization.l2": "Coupled L2: `l2 * w` is added to every trainable parameter's gradient after "
                                   "clipping, before the optimizer. It is not part of the reported loss.",
    "documents.Training.steps": "Train for this many optimizer steps (give `steps` or `epochs`, not both).",
    "documents.Training.epochs": "Train for this many passes over the training split: "
                                 "`epochs * steps_per_epoch` optimizer steps.",
    "documents.Evaluation.every": "Evaluate after every this many optimizer steps, and always after the last "
                                  "one; `null`: after the last step only.",
    "documents.Evaluation.metrics": "Metrics computed in evaluation mode on the validation split (on the "
                                    "training split when `validation` is 0).",
    "documents.Checkpoint.every": "Write a checkpoint after every this many optimizer steps, and after the last.",
    "documents.Checkpoint.keep": "How many of the newest checkpoints to keep; older ones are deleted.",
    # documents: Environment
    "documents.Environment.runtime": "The runtime the model is deployed on.",
    "documents.Environment.device": "`cpu`, `cuda` or `cuda:N` (`gpu`/`gpu:N` for TensorFlow).",
    "documents.Environment.dtype": "The type the deployed model computes in: `float32`, `float64`, `float16`, or "
                                   "`int8` (the float32 export quantized, see `quantization`).",
    "documents.Environment.batch_sizes": "Batch sizes the deployed model must accept; predictions are checked "
                                         "at each.",
    "documents.Environment.opset": "The ONNX opset to export with (runtime `onnxruntime`).",
    "documents.Environment.threads": "Intra-op threads the runtime may use.",
    "documents.Environment.requirements": "Package name to PEP 440 version specifier (`>=1.17`, `~=2.2`, "
                                          "`==2.13.0`) that the target must satisfy; `\"\"` accepts any version.",
    "documents.Environment.tolerance": "How closely deployed predictions must match the float64 reference. "
                                       "Required, except for `int8` (judged by `max_metric_drop`; a tolerance "
                                       "given there is checked too).",
    "documents.Environment.quantization": "`int8` only: how the float32 export is quantized "
                                          "(`onnxruntime.quantization`); `null`: dynamic.",
    "documents.Environment.max_metric_drop": "Recipe metric (`accuracy`, `loss`, `mse`, `mae`) to the largest "
                                             "worsening allowed against the reference's value on the evaluation "
                                             "data (accuracy lower, the others higher). Required for `int8`; "
                                             "checked for any dtype when given.",
    "documents.Quantization.mode": "`dynamic`: int8 weights, activations quantized at run time "
                                   "(`quantize_dynamic`). `static`: weights and activations, activation ranges "
                                   "calibrated on the recipe's training data (`quantize_static`, QDQ).",
    "documents.Quantization.calibration_samples": "`static`: how many samples of the recipe's training data "
                                                  "(from the first) calibrate the activation ranges.",
    "documents.Environment.latency_budget": "The latency the deployed model must stay within; `null`: not "
                                            "measured against a budget.",
    "documents.Tolerance.rtol": "Relative tolerance: every prediction `y` must satisfy "
                                "`|y - y_ref| <= atol + rtol * |y_ref|`.",
    "documents.Tolerance.atol": "Absolute tolerance in the same inequality.",
    "documents.LatencyBudget.batch_size": "The batch size latency is measured at; must be one of `batch_sizes`.",
    "documents.LatencyBudget.p50_ms": "Largest allowed median latency of one forward pass, in milliseconds.",
    "documents.LatencyBudget.p99_ms": "Largest allowed 99th-percentile latency, in milliseconds.",
    # layers: common
    "layers.LayerBase.name": "The layer's name. In a sequence it defaults to `<type>_<index>`; in a graph it "
                             "is required. Names are unique within a model and differ from input names.",
    "layers.LayerBase.inputs": "Graph models only: the names of the model inputs or nodes this node takes, in "
                               "order. Not allowed in `layers`.",
    "layers.LayerBase.initializers": "Parameter name (`weight`, `bias`, `weight_hh`, ...) to initializer, "
                                     "replacing that parameter's default. Unknown names are errors.",
    # layers
    "layers.Dense.units": "Output features.",
    "layers.Dense.use_bias": "Add `bias` after the matrix product.",
    "layers._Conv.filters": "Output channels.",
    "layers._Conv.kernel_size": "Window size: one integer for every spatial axis, or one per axis.",
    "layers._Conv.stride": "Step between windows: one integer, or one per spatial axis.",
    "layers._Conv.padding": "`valid` (none), `same` (output `ceil(size / stride)`, extra element at the end), "
                            "an integer (that many on both sides of every axis), one integer per axis, or "
                            "`[before, after]` pairs for every axis in order.",
    "layers._Conv.dilation": "Spacing between kernel taps: one integer, or one per spatial axis.",
    "layers._Conv.groups": "Split input and output channels into this many groups convolved separately; must "
                           "divide both. `groups` = channels = filters is a depthwise convolution.",
    "layers._Conv.use_bias": "Add a per-filter `bias`.",
    "layers._Pool2d.kernel_size": "Window size: one integer for both axes, or `[kh, kw]`.",
    "layers._Pool2d.stride": "Step between windows, one integer or `[sh, sw]`; `null`: equal to `kernel_size`.",
    "layers._Pool2d.padding": "As for convolutions. Every padding amount must be smaller than the window.",
    "layers.Reshape.shape": "The per-sample target shape (no batch axis), row-major; one entry may be `-1` "
                            "(inferred). Zero and other negative sizes are errors.",
    "layers.Dropout.rate": "Probability of dropping each value in training; kept values are scaled by "
                           "`1 / (1 - rate)`.",
    "layers.BatchNorm.momentum": "Weight of the NEW batch statistic in the running averages "
                                 "(PyTorch's convention; Keras's `momentum=0.99` is `0.01` here).",
    "layers.BatchNorm.epsilon": "Added to the variance inside the square root.",
    "layers.LayerNorm.dims": "Normalize each sample over its last `dims` axes.",
    "layers.LayerNorm.epsilon": "Added to the variance inside the square root.",
    "layers.Embedding.input_dim": "Vocabulary size: indices must lie in `[0, input_dim)`.",
    "layers.Embedding.output_dim": "Length of each embedding vector.",
    "layers._Recurrent.units": "Hidden state size `H`.",
    "layers._Recurrent.return_sequences": "`true`: output every step's hidden state `[T, H]`; `false`: the "
                                          "last one, `[H]`.",
    "layers.MultiHeadAttention.num_heads": "Number of heads; must divide the embedding size `E`.",
    "layers.MultiHeadAttention.causal": "Mask future positions: position `i` attends to `j <= i` only.",
    "layers.MultiHeadAttention.use_bias": "Give each of the four projections a bias.",
    "layers.LeakyReLU.negative_slope": "Slope for negative inputs (Keras's default is 0.3; the standard's is "
                                       "0.01, as PyTorch's).",
    "layers.ELU.alpha": "Saturation value for negative inputs: `alpha (exp(x) - 1)`.",
    "layers.GELU.approximate": "`none`: exact, with the normal CDF via erf. `tanh`: the tanh approximation.",
    "layers._AxisActivation.axis": "Per-sample axis to normalize over (no batch axis); negative counts from the "
                                   "end.",
    "layers.Concat.axis": "Per-sample axis to join along (no batch axis); 0 is the channel axis of a "
                          "channels-first shape. Negative counts from the end.",
    # initializers
    "initializers._Seeded.seed": "Draw this parameter from its own seed instead of the recipe's seed (the "
                                 "stream is still named after the parameter).",
    "initializers.Constant.value": "The value of every element.",
    "initializers.Uniform.low": "Lower bound; must be below `high`.",
    "initializers.Uniform.high": "Upper bound.",
    "initializers.Normal.mean": "Mean.",
    "initializers.Normal.std": "Standard deviation (not truncated).",
    "initializers.GlorotUniform.gain": "Multiplies the bound.",
    "initializers.GlorotNormal.gain": "Multiplies the standard deviation.",
    "initializers.HeUniform.mode": "Which fan the bound uses.",
    "initializers.HeNormal.mode": "Which fan the standard deviation uses.",
    "initializers.Orthogonal.gain": "Multiplies the orthogonal matrix.",
    # losses
    "losses._Loss.reduction": "`mean`: average of the per-element (or per-position) losses over the batch; "
                              "`sum`: their sum.",
    "losses.Huber.delta": "Where the loss turns from quadratic to linear.",
    "losses.BinaryCrossentropy.from_logits": "Required. `true`: predictions are logits (a sigmoid is applied "
                                             "inside the loss, stably); `false`: probabilities in (0, 1).",
    "losses.BinaryCrossentropy.label_smoothing": "`s`: targets become `t (1 - s) + s / 2`.",
    "losses.CategoricalCrossentropy.from_logits": "Required. `true`: predictions are logits (log-softmax inside "
                                                  "the loss); `false`: probabilities over the last axis.",
    "losses.CategoricalCrossentropy.label_smoothing": "`s`: targets become `t (1 - s) + s / C`.",
    "losses.SparseCategoricalCrossentropy.from_logits": "Required, as for `categorical_crossentropy`.",
    "losses.SparseCategoricalCrossentropy.label_smoothing": "`s`: the one-hot target becomes "
                                                            "`t (1 - s) + s / C`.",
    # optimizers
    "optimizers._Optimizer.learning_rate": "Base learning rate; the schedule scales it per step.",
    "optimizers.SGD.momentum": "Momentum `μ`; 0 keeps no buffer.",
    "optimizers.SGD.dampening": "Scales the gradient entering the buffer by `1 - dampening` (not on the "
                                "first step).",
    "optimizers.SGD.nesterov": "Nesterov momentum: step with `g + μ b` instead of `b`. Needs `momentum > 0`.",
    "optimizers.Adam.beta1": "Decay of the first-moment average `m`.",
    "optimizers.Adam.beta2": "Decay of the second-moment average `v`.",
    "optimizers.Adam.epsilon": "Added to `sqrt(v̂)` after bias correction (PyTorch's placement).",
    "optimizers.Adam.amsgrad": "Use the running maximum of `v` (state `max_exp_avg_sq`).",
    "optimizers.AdamW.weight_decay": "Decoupled decay: `w ← w (1 - lr · weight_decay)` before the Adam step.",
    "optimizers.RMSprop.rho": "Decay of the squared-gradient average (Keras's default is 0.9; the standard's "
                              "is 0.99).",
    "optimizers.RMSprop.epsilon": "Added OUTSIDE the square root: `sqrt(v) + ε`.",
    "optimizers.RMSprop.momentum": "Momentum on the scaled step; 0 keeps no buffer.",
    "optimizers.RMSprop.centered": "Divide by the estimated standard deviation `sqrt(v - a²)` instead of "
                                   "`sqrt(v)`.",
    "optimizers.Adagrad.epsilon": "Added outside the square root.",
    "optimizers.Adagrad.initial_accumulator_value": "Starting value of the squared-gradient sum.",
    # schedules and clipping
    "schedules._Schedule.warmup": "A linear warm-up before the schedule; `null`: none.",
    "schedules.Warmup.steps": "Warm-up length `W` in optimizer steps; the schedule proper starts after it.",
    "schedules.Warmup.start_factor": "The learning rate at step 0 is `start_factor * base`; it rises linearly "
                                     "to `base` at step `W`.",
    "schedules.Step.step_size": "Multiply the rate by `gamma` every this many steps.",
    "schedules.Step.gamma": "Decay factor.",
    "schedules.Exponential.gamma": "Decay factor per step.",
    "schedules.Cosine.decay_steps": "Steps `T` (after the warm-up) from `base` down to `min_learning_rate`; "
                                    "the rate stays there afterwards.",
    "schedules.Cosine.min_learning_rate": "The final learning rate; at most the base rate.",
    "schedules.ClipGlobalNorm.max_norm": "Largest allowed L2 norm of all gradients taken together.",
    "schedules.ClipValue.clip_value": "Every gradient element is clipped to `[-clip_value, clip_value]`.",
    # data
    "data.Data.source": "Where the samples come from.",
    "data.Data.preprocessing": "Steps applied in order, each type at most once; fitted on the training split.",
    "data.Data.split": "How much is held out for evaluation.",
    "data.Data.batch_size": "Samples per optimizer step (the global batch).",
    "data.Data.shuffle": "`true`: every epoch visits the training split in a new seeded order; `false`: in "
                         "stored order.",
    "data.Data.drop_last": "Drop an epoch's last, smaller batch.",
    "data.Split.validation": "Fraction held out: the last `ceil(n * validation)` samples of a seeded "
                             "permutation. 0: no hold-out (evaluation uses the training split).",
    "data.SyntheticClassification.num_samples": "Number of samples `n` (before the split).",
    "data.SyntheticClassification.shape": "Per-sample feature shape.",
    "data.SyntheticClassification.num_classes": "Number of classes `K` (labels `0..K-1`).",
    "data.SyntheticClassification.separation": "Standard deviation of the class centres; larger is easier.",
    "data.SyntheticRegression.num_samples": "Number of samples `n`.",
    "data.SyntheticRegression.shape": "Per-sample feature shape.",
    "data.SyntheticRegression.targets": "Targets per sample; targets are `[targets]` per sample.",
    "data.SyntheticRegression.noise": "Standard deviation of the Gaussian noise added to the targets.",
    "data.SyntheticSequences.num_samples": "Number of sequences `n`.",
    "data.SyntheticSequences.length": "Steps per sequence `T`.",
    "data.SyntheticSequences.features": "Features per step `F` (float sequences; ignored with `vocab_size`).",
    "data.SyntheticSequences.vocab_size": "Emit integer tokens `[T]` in `[0, vocab_size)` instead of float "
                                          "features `[T, F]`.",
    "data.SyntheticSequences.num_classes": "Number of classes of the sequence label.",
    "data.NpzFile.path": "A `.npz` file relative to the recipe's folder.",
    "data.NpzFile.features": "Name of the features array (samples on axis 0).",
    "data.NpzFile.targets": "Name of the targets array (samples on axis 0).",
    "data.CsvFile.path": "A numeric `.csv` file relative to the recipe's folder; one sample per line.",
    "data.CsvFile.target": "The target column: its header name, or its 0-based index (negative counts from the "
                           "end). Every other column is a feature.",
    "data.CsvFile.header": "The first non-blank line names the columns.",
    "data.CsvFile.delimiter": "One character separating cells.",
    "data.CsvFile.target_type": "`float`: targets are real numbers (regression, binary cross-entropy); "
                                "`class_index`: non-negative integers.",
    "data.Dataset.name": "The dataset. `digits`: 1,797 8x8 grey images of hand-written digits (values 0..16), "
                         "10 classes.",
    "data.Dataset.shape": "`flat`: samples `[64]`; `image`: samples `[1, 8, 8]` (channels first).",
    "data.MinMax.low": "Value the training minimum of each feature maps to; must be below `high`.",
    "data.MinMax.high": "Value the training maximum of each feature maps to.",
    "data.OneHot.num_classes": "Length of the one-hot rows; class targets must lie in `[0, num_classes)`.",
}

# ------------------------------------------------------------------------------------------ params
# Symbolic canonical parameters per layer type: (name, shape, fan_in, fan_out, when). Each symbolic
# string is evaluated in `env` (with / as integer division and · as product) and compared with the
# layer's own parameters()/buffers() for `example` and `input`; a tuple (shown, python) gives a
# separate expression where the shown text is prose.
PARAMS: dict[str, dict[str, Any]] = {
    "dense": {
        "example": {"units": 5}, "input": (3, 4), "env": lambda l, x: {"in": x[-1], "units": l.units},
        "rows": [("weight", "[in, units]", "in", "units", "none with `tied_to` (the embedding's table, transposed)"),
                 ("bias", "[units]", "in", "units", "`use_bias: true`")],
    },
    "conv1d": {
        "example": {"filters": 6, "kernel_size": 3, "groups": 2}, "input": (4, 11),
        "env": lambda l, x: {"C": x[0], "filters": l.filters, "groups": l.groups, "k": l.kernel_size},
        "rows": [("weight", "[filters, C/groups, k]", "(C/groups)·k", "filters·k", ""),
                 ("bias", "[filters]", "(C/groups)·k", "filters·k", "`use_bias: true`")],
    },
    "conv2d": {
        "example": {"filters": 6, "kernel_size": [3, 2], "groups": 2}, "input": (4, 9, 9),
        "env": lambda l, x: {"C": x[0], "filters": l.filters, "groups": l.groups, "kh": l.kernel_size[0],
                             "kw": l.kernel_size[1]},
        "rows": [("weight", "[filters, C/groups, kh, kw]", "(C/groups)·kh·kw", "filters·kh·kw", ""),
                 ("bias", "[filters]", "(C/groups)·kh·kw", "filters·kh·kw", "`use_bias: true`")],
    },
    "batch_norm": {
        "example": {}, "input": (3, 5, 5), "env": lambda l, x: {"C": x[0]},
        "rows": [("weight", "[C]", "C", "C", ""), ("bias", "[C]", "C", "C", ""),
                 ("running_mean", "[C]", "C", "C", "buffer"), ("running_var", "[C]", "C", "C", "buffer")],
    },
    "layer_norm": {
        "example": {"dims": 2}, "input": (3, 4, 5), "env": lambda l, x: {"x": x, "dims": l.dims},
        "rows": [("weight", ("the input's last `dims` axes", "list(x[-dims:])"),
                  ("the first of them", "x[-dims]"), ("the last of them", "x[-1]"), ""),
                 ("bias", ("the input's last `dims` axes", "list(x[-dims:])"),
                  ("the first of them", "x[-dims]"), ("the last of them", "x[-1]"), "")],
    },
    "rms_norm": {
        "example": {"dims": 2}, "input": (3, 4, 5), "env": lambda l, x: {"x": x, "dims": l.dims},
        "rows": [("weight", ("the input's last `dims` axes", "list(x[-dims:])"),
                  ("the first of them", "x[-dims]"), ("the last of them", "x[-1]"), "`scale: true`")],
    },
    "positional_embedding": {
        "example": {"encoding": "learned", "max_length": 16}, "input": (7, 4),
        "env": lambda l, x: {"max_length": l.max_length, "d": x[-1]},
        "rows": [("weight", "[max_length, d]", "max_length", "d", "`encoding: learned`")],
    },
    "embedding": {
        "example": {"input_dim": 10, "output_dim": 4}, "input": (7,),
        "env": lambda l, x: {"input_dim": l.input_dim, "output_dim": l.output_dim},
        "rows": [("weight", "[input_dim, output_dim]", "input_dim", "output_dim", "")],
    },
    "lstm": {
        "example": {"units": 4}, "input": (7, 5), "env": lambda l, x: {"F": x[-1], "H": l.units},
        "rows": [("weight_ih", "[F, 4·H]", "F", "4·H", "gates i, f, g, o"),
                 ("weight_hh", "[H, 4·H]", "H", "4·H", "gates i, f, g, o"),
                 ("bias", "[4·H]", "4·H", "4·H", "one bias")],
    },
    "gru": {
        "example": {"units": 4}, "input": (7, 5), "env": lambda l, x: {"F": x[-1], "H": l.units},
        "rows": [("weight_ih", "[F, 3·H]", "F", "3·H", "gates r, z, n"),
                 ("weight_hh", "[H, 3·H]", "H", "3·H", "gates r, z, n"),
                 ("bias_ih", "[3·H]", "3·H", "3·H", "input side"),
                 ("bias_hh", "[3·H]", "3·H", "3·H", "recurrent side (inside the reset)")],
    },
    "multi_head_attention": {
        "example": {"num_heads": 2}, "input": (7, 6), "env": lambda l, x: {"E": x[-1]},
        "rows": [*((f"{p}_weight", "[E, E]", "E", "E", "") for p in ("query", "key", "value", "output")),
                 *((f"{p}_bias", "[E]", "E", "E", "`use_bias: true`") for p in ("query", "key", "value", "output"))],
    },
}


# ------------------------------------------------------------------------------------------ rendering
def fmt_number(v: float | int) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    text = repr(v)
    m = re.fullmatch(r"(-?[\d.]+)e([+-])0*(\d+)", text)
    if m:
        return f"{m.group(1)}e{'-' if m.group(2) == '-' else ''}{m.group(3)}"
    return text


def yaml_value(v: Any) -> str:
    """A value as YAML flow text."""
    if isinstance(v, BaseModel):
        v = v.model_dump(exclude_none=True)
    if v is None:
        return "null"
    if isinstance(v, bool) or isinstance(v, int | float):
        return fmt_number(v)
    if isinstance(v, str):
        return v if v and re.fullmatch(r"[A-Za-z_][\w.\-]*", v) else f'"{v}"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _constraints(metas: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metas:
        if isinstance(m, FieldInfo):
            out.update(_constraints(list(m.metadata)))
            continue
        for attr in ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern"):
            if getattr(m, attr, None) is not None and getattr(m, attr) not in (base.INT64_MIN, base.INT64_MAX):
                out[attr] = getattr(m, attr)  # the 64-bit bounds of every integer are stated once, in prose
    return out


def _range(c: dict[str, Any]) -> str:
    lo = ("(", c["gt"]) if "gt" in c else ("[", c["ge"]) if "ge" in c else None
    hi = (")", c["lt"]) if "lt" in c else ("]", c["le"]) if "le" in c else None
    if lo and hi:
        return f" in {lo[0]}{fmt_number(lo[1])}, {fmt_number(hi[1])}{hi[0]}"
    if lo:
        return f" {'>' if lo[0] == '(' else '≥'} {fmt_number(lo[1])}"
    if hi:
        return f" {'<' if hi[0] == ')' else '≤'} {fmt_number(hi[1])}"
    return ""


UNIONS = {  # discriminated unions shown as one linked word
    frozenset(layers.LAYER_CLASSES): ("layer", "layers", "#layers"),
    frozenset(typing.get_args(typing.get_args(initializers.Initializer)[0])): ("initializer", "initializers",
                                                                               "#initializers"),
    frozenset(typing.get_args(typing.get_args(losses.Loss)[0])): ("loss", "losses", "#losses"),
    frozenset(typing.get_args(typing.get_args(optimizers.Optimizer)[0])): ("optimizer", "optimizers",
                                                                           "#optimizers"),
    frozenset(typing.get_args(typing.get_args(schedules.Schedule)[0])): ("schedule", "schedules",
                                                                         "#learning-rate-schedules"),
    frozenset(typing.get_args(typing.get_args(schedules.GradientClipping)[0])): ("clipping", "clippings",
                                                                                 "#gradient-clipping"),
    frozenset(typing.get_args(typing.get_args(data.Source)[0])): ("source", "sources", "#data-sources"),
    frozenset(typing.get_args(typing.get_args(data.Preprocessing)[0])): ("preprocessing step",
                                                                         "preprocessing steps", "#preprocessing"),
}
OBJECTS = {  # nested objects: (word, anchor)
    base.Metadata: ("metadata", "#every-document"), documents.Input: ("input", "#inputs"),
    documents.WeightsFile: ("weights file", "#weights-file"), data.Data: ("data", "#data"),
    data.Split: ("split", "#split"), documents.Regularization: ("regularization", "#regularization"),
    documents.Training: ("training", "#training"), documents.Evaluation: ("evaluation", "#evaluation"),
    documents.Checkpoint: ("checkpoint", "#checkpoints"), documents.Tolerance: ("tolerance", "#tolerance"),
    documents.LatencyBudget: ("latency budget", "#latency-budget"), schedules.Warmup: ("warm-up", "#warm-up"),
    documents.Quantization: ("quantization", "#quantization"),
    documents.Distribution: ("distribution", "#data-parallelism"),
    layers.Rotary: ("rotary", "#multi_head_attention"),
}
PLURAL = {"integer": "integers", "number": "numbers", "string": "strings", "name": "names", "boolean": "booleans"}


def render_type(a: Any, metas: list[Any] | None = None, plural: bool = False) -> str:
    metas = list(metas or [])
    origin, args = typing.get_origin(a), typing.get_args(a)
    if origin is typing.Annotated:
        return render_type(args[0], metas + list(args[1:]), plural)
    c = _constraints(metas)
    if origin in (typing.Union, types.UnionType):
        members = [x for x in args if x is not type(None)]
        null = " or `null`" if type(None) in args else ""
        if len(members) == 1:
            return render_type(members[0], metas, plural) + null
        for key, (one, many, anchor) in UNIONS.items():
            if frozenset(members) == key:
                return f"[{many if plural else one}]({anchor})" + null
        return " or ".join(render_type(x, metas, plural) for x in members) + null
    if origin is typing.Literal:
        return " or ".join(f"`{x}`" for x in args)
    if origin is list:
        inner = render_type(args[0], plural=True) if args else "values"
        size = ""
        if c.get("min_length"):
            size = f", at least {c['min_length']}"
        return f"list of {inner}{size}"
    if origin is dict:
        return f"mapping of {render_type(args[0], plural=True)} to {render_type(args[1], plural=True)}"
    if a is dict:
        return "mapping"
    if isinstance(a, type) and issubclass(a, BaseModel):
        word, anchor = OBJECTS[a]
        return f"[{word}]({anchor})"
    if a is str:
        if c.get("pattern") == r"^[A-Za-z_][A-Za-z0-9_\-]*$":
            word = "name"
        elif c.get("pattern"):
            return f"string matching `{c['pattern']}`"
        elif c.get("min_length") == c.get("max_length") == 1:
            return "one character"
        else:
            word = "string"
        return f"[{PLURAL[word] if plural else word}](#names)" if word == "name" else (PLURAL[word] if plural
                                                                                       else word)
    base_word = {int: "integer", float: "number", bool: "boolean"}.get(a)
    if base_word is None:
        raise TypeError(f"no rendering for {a!r}")
    word = PLURAL[base_word] if plural else base_word
    return word + _range(c)


def render_default(f: FieldInfo) -> str:
    if f.is_required():
        return "**required**"
    value = f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return ""
    return f"`{yaml_value(value)}`"


def meaning(cls: type[BaseModel], field: str) -> str:
    described = cls.model_fields[field].description  # Field(description=...) first (#14 part 2 moves every
    if described:                                      # meaning there); MEANINGS below for the rest
        return described
    for klass in cls.__mro__:
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            key = f"{klass.__module__.rsplit('.', 1)[-1]}.{klass.__name__}.{field}"
            if key in MEANINGS:
                return MEANINGS[key]
    raise KeyError(f"no meaning for {cls.__module__}.{cls.__name__}.{field}: add one to MEANINGS in {__file__}")


def fields_table(cls: type[BaseModel], *, skip: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    rows = []
    for name, f in cls.model_fields.items():
        if name in ("type", "kind") or name in skip:
            continue
        if issubclass(cls, documents.Document) and name in HEADER_FIELDS:
            continue
        if issubclass(cls, layers.LayerBase) and cls is not layers.LayerBase and name in LAYER_COMMON:
            continue
        cells = [f"`{name}`", render_type(f.annotation, list(f.metadata)), render_default(f), meaning(cls, name)]
        rows.append(row(cells))
    if not rows:
        return "No fields besides `type`" + (" and the [common ones](#fields-every-layer-has)."
                                             if issubclass(cls, layers.LayerBase) else ".")
    return "\n".join(["| field | type | default | meaning |", "| --- | --- | --- | --- |", *rows])


def row(cells: list[str]) -> str:
    """One table row; `|` inside a cell (code spans included) must be escaped in GitHub's tables."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _evaluate(text: str, env: dict[str, Any]) -> Any:
    expr = re.sub(r"\bin\b", "in_", text.replace("·", "*").replace("/", "//"))  # `in` is a Python keyword
    names = {("in_" if k == "in" else k): v for k, v in env.items()}
    return eval(expr, {"__builtins__": {"list": list}}, names)  # only the constant strings in PARAMS


def params_table(tag: str) -> str:
    spec = PARAMS[tag]
    cls = layers.LAYER_TYPES[tag]
    layer = cls.model_validate({"type": tag, **spec["example"]})
    x = spec["input"]
    actual = {**layer.parameters([x]), **layer.buffers([x])}
    env = spec["env"](layer, x)
    lines = ["| parameter | shape | default initializer | fan_in | fan_out | note |",
             "| --- | --- | --- | --- | --- | --- |"]
    names = []
    for name, shape, fan_in, fan_out, when in spec["rows"]:
        names.append(name)
        p = actual.get(name)
        if p is None:
            raise AssertionError(f"{tag}: PARAMS lists `{name}`, which {cls.__name__}.parameters() does not give")
        for what, sym, real in (("shape", shape, list(p.shape)), ("fan_in", fan_in, p.fan_in),
                                ("fan_out", fan_out, p.fan_out)):
            shown, expr = sym if isinstance(sym, tuple) else (sym, sym)
            got = _evaluate(expr, env)
            if got != real:
                raise AssertionError(f"{tag}.{name}: symbolic {what} `{shown}` gives {got} for input {list(x)}, "
                                     f"the model says {real}")
        shown = [s[0] if isinstance(s, tuple) else f"`{s}`" for s in (shape, fan_in, fan_out)]
        note = when if when != "buffer" else "buffer: not trained, updated in training mode"
        lines.append(row([f"`{name}`", shown[0], render_initializer(p.initializer), shown[1], shown[2], note]))
    extra = set(actual) - set(names)
    if extra:
        raise AssertionError(f"{tag}: parameters {sorted(extra)} are missing from PARAMS in {__file__}")
    return "\n".join(lines)


def render_initializer(init: BaseModel) -> str:
    fields = {k: v for k, v in init.model_dump(exclude={"seed", "type"}).items()}
    cls = type(init)
    shown = {k: v for k, v in fields.items()
             if cls.__name__ in ("Uniform", "Normal", "Constant") or v != cls.model_fields[k].default}
    args = ", ".join(f"{k} {fmt_number(v) if isinstance(v, int | float) else v}" for k, v in shown.items())
    return f"`{init.type}`" + (f" ({args})" if args else "")  # type: ignore[attr-defined]


INIT_RULES = {
    "Zeros": "0", "Ones": "1", "Constant": "`value`", "Uniform": "`U(low, high)`", "Normal": "`N(mean, std²)`",
    "GlorotUniform": "`U(-a, a)`, `a = gain · sqrt(6 / (fan_in + fan_out))`",
    "GlorotNormal": "`N(0, s²)`, `s = gain · sqrt(2 / (fan_in + fan_out))`, not truncated",
    "HeUniform": "`U(-a, a)`, `a = sqrt(6 / fan)`, `fan` = fan_in or fan_out by `mode`",
    "HeNormal": "`N(0, s²)`, `s = sqrt(2 / fan)`, not truncated",
    "Orthogonal": "`gain ·` an orthogonal matrix from the QR decomposition of a standard normal one, "
                  "viewed as `[shape[0], prod(shape[1:])]`",
}


def initializers_table() -> str:
    lines = ["| `type` | fields (default) | values |", "| --- | --- | --- |"]
    for cls in typing.get_args(typing.get_args(initializers.Initializer)[0]):
        tags = typing.get_args(cls.model_fields["type"].annotation)
        name = " or ".join(f"`{t}`" for t in tags)
        fields = ", ".join(f"`{n}` ({render_default(f).strip('`') if not f.is_required() else 'required'})"
                           for n, f in cls.model_fields.items() if n not in ("type", "seed"))
        lines.append(row([name, fields or "—", INIT_RULES[cls.__name__]]))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the page
MARKER = re.compile(r"(<!-- (fields|params|initializers)(?:: ([\w.]+))? -->\n)(.*?)(<!-- /\2 -->)", re.DOTALL)


def resolve_class(ref: str) -> type[BaseModel]:
    module, _, name = ref.partition(".")
    cls = getattr(MODULES[module], name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise KeyError(f"no model `{ref}` (write <module>.<Class>, e.g. documents.Recipe)")
    return cls


def generate(kind: str, arg: str | None) -> str:
    if kind == "fields":
        return fields_table(resolve_class(arg or ""))
    if kind == "params":
        return params_table(arg or "")
    return initializers_table()


def render(page: str) -> str:
    def fill(m: re.Match[str]) -> str:
        return f"{m.group(1)}{generate(m.group(2), m.group(3))}\n{m.group(5)}"

    return MARKER.sub(fill, page)


def coverage(page: str) -> list[str]:
    """Models and layer types the page never tabulates."""
    shown = {m.group(3) for m in MARKER.finditer(page) if m.group(2) == "fields"}
    params = {m.group(3) for m in MARKER.finditer(page) if m.group(2) == "params"}
    missing = []
    for mod in (data, documents, layers, losses, optimizers, schedules):
        for name, cls in vars(mod).items():
            if (isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == mod.__name__
                    and not name.startswith("_") and cls is not documents.Document and cls is not layers.LayerBase
                    and f"{mod.__name__.rsplit('.', 1)[-1]}.{name}" not in shown):
                missing.append(f"fields: {mod.__name__.rsplit('.', 1)[-1]}.{name}")
    missing += [f"params: {t}" for t in PARAMS if t not in params]
    missing += [f"params: {t} (add it to PARAMS)" for t, c in layers.LAYER_TYPES.items() if t not in PARAMS
                and (c.parameters is not layers.LayerBase.parameters or c.buffers is not layers.LayerBase.buffers)]
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/spec/v1.md is stale; write nothing")
    parser.add_argument("--page", type=Path, default=PAGE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    page = args.page.read_text(encoding="utf-8")
    try:
        new = render(page)
    except (KeyError, AssertionError, TypeError, NameError, SyntaxError) as exc:
        print(f"gen_field_tables: {exc}", file=sys.stderr)
        return 2
    missing = coverage(new)
    if missing:
        print("gen_field_tables: the page has no table for: " + "; ".join(missing), file=sys.stderr)
        return 1
    if args.check:
        if new != page:
            diff = difflib.unified_diff(page.splitlines(), new.splitlines(), str(args.page), "generated", lineterm="",
                                        n=1)
            print("\n".join(list(diff)[:60]), file=sys.stderr)
            print(f"gen_field_tables: {args.page} is stale; run python docs/tools/gen_field_tables.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != page:
        args.page.write_text(new, encoding="utf-8")
        print(f"updated {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
