"""The TensorFlow adapter: every spec v1 construct on native Keras 3 layers, losses and optimizers
(TensorFlow backend), CPU and GPU, float32/64.

`support()` answers from one table: `native` where a Keras (or TensorFlow) class or option has the
standard's semantics, `subclass` where a documented subclass or a native option closes a gap (the note
says how; the full account is docs/adapters/tensorflow.md). Nothing in v1 is unsupported.
"""

from __future__ import annotations

import logging
import os
import platform
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from lockstep import __version__
from lockstep.adapters.base import FrameworkAdapter, Session
from lockstep.adapters.tensorflow.session import TFSession, device_name

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

SUBCLASS: dict[str, str] = {
    "conv1d": "PaddedConv1D (a Conv1D subclass) zero-pads explicit padding, and runs stride with dilation (which "
              "Keras refuses) at stride 1 keeping every stride-th output; 'valid'/'same' are native",
    "conv2d": "PaddedConv2D (a Conv2D subclass) zero-pads explicit padding, and runs stride with dilation (which "
              "Keras refuses) at stride 1 keeping every stride-th output; 'valid'/'same' are native",
    "max_pool2d": "explicit padding: PaddedMaxPool2D pads with -inf before the native pool; 'valid'/'same' native",
    "avg_pool2d": "explicit padding: PaddedAvgPool2D rescales the native average of the zero-padded input by "
                  "window size / in-bounds count; 'valid'/'same' native (SAME already excludes padding)",
    "dropout": "the standard's keep-mask replaces TensorFlow's RNG (StandardDropout, a Dropout subclass)",
    "batch_norm": "StandardBatchNorm: momentum = 1 - m (Keras weights the running value) and the moving variance "
                  "moved toward the unbiased batch variance (Keras uses the biased one)",
    "leaky_relu": "float64: StandardLeakyReLU, where(x > 0, x, slope·x) (TensorFlow's kernel holds the slope in "
                  "float32); float32 native LeakyReLU(negative_slope)",
    "gelu": "float64: StandardGELU with float64 constants (tf.nn.gelu rounds them through float32); float32 "
            "native gelu(approximate)",
    "multi_head_attention": "SelfAttention (a MultiHeadAttention subclass) called as attn(x, x); in float64 the "
                            "query is scaled by an exact 1/sqrt(d) (Keras casts it through float32)",
    "binary_crossentropy": "from logits native (BinaryCrossentropy, label smoothing); from probabilities "
                           "-(t log p + (1 - t) log(1 - p)) in tf ops (Keras clips p to [1e-7, 1 - 1e-7])",
    "categorical_crossentropy": "from logits native (CategoricalCrossentropy, label smoothing); from "
                                "probabilities -Σ t log p in tf ops (Keras clips and renormalizes p)",
    "sparse_categorical_crossentropy": "from logits native (SparseCategoricalCrossentropy; with label smoothing "
                                       "one-hot targets into CategoricalCrossentropy); from probabilities -Σ t log p "
                                       "in tf ops",
    "nll": "no Keras loss: -y[target] with tf.gather",
    "sgd": "StandardSGD.update_step: b = μb + (1 - d)g with b₁ = g, w -= lr·b (Keras keeps v = μv - lr·g)",
    "adam": "StandardAdam.update_step: ε added to the bias-corrected root (Keras adds it before the correction)",
    "adamw": "StandardAdamW: the standard's Adam step after Keras's decoupled decay (decay kept in float64)",
    "rmsprop": "StandardRMSprop.update_step: ε outside the root, lr outside the momentum buffer",
    "adagrad": "StandardAdagrad: ε outside the root, accumulators start exactly at initial_accumulator_value",
    "constant": "StandardSchedule, a float64 LearningRateSchedule (Keras's schedules compute in float32)",
    "step": "StandardSchedule, a float64 LearningRateSchedule (Keras's schedules compute in float32)",
    "exponential": "StandardSchedule, a float64 LearningRateSchedule (Keras's schedules compute in float32)",
    "cosine": "StandardSchedule, a float64 LearningRateSchedule (Keras's schedules compute in float32)",
    "warmup": "StandardSchedule (only CosineDecay has a Keras warm-up, starting from initial_learning_rate)",
    "l2": "added to the gradients after clipping in the compiled step (Keras's weight_decay is decoupled, "
          "its regularizers act through the loss)",
}

NATIVE_NOTES: dict[str, str] = {
    "dense": "Dense (kernel [in, out] as is)", "embedding": "Embedding",
    "lstm": "LSTM: gates i, f, c(=g), o and one bias, as the standard",
    "gru": "GRU(reset_after=True): gate blocks z, r, h reordered, bias [2, 3H] split into bias_ih/bias_hh",
    "layer_norm": "LayerNormalization(axis=last dims, epsilon)", "flatten": "Flatten (channels-first)",
    "reshape": "Reshape", "global_avg_pool": "GlobalAveragePooling1D/2D/3D", "add": "Add",
    "concat": "Concatenate", "relu": "ReLU", "elu": "ELU(alpha)", "silu": "Activation('silu')",
    "sigmoid": "Activation('sigmoid')", "tanh": "Activation('tanh')", "softmax": "Softmax(axis)",
    "log_softmax": "Activation(log_softmax(axis))", "mse": "MeanSquaredError (per element)",
    "mae": "MeanAbsoluteError (per element)", "huber": "Huber(delta) (per element)",
    "global_norm": "tf.clip_by_global_norm (no epsilon)", "value": "tf.clip_by_value",
}


def _configure_gpus() -> None:
    """Grow GPU memory on demand instead of TensorFlow's grab-it-all, so that torch (or a second
    session) can share the device in `lockstep compare`. Only possible before the GPU is first used."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialized by someone else: leave it as it is
            pass


_configure_gpus()


class _OneTracePerSession(logging.Filter):
    """Drop TensorFlow's "N out of the last N calls ... triggered tf.function retracing" warning.

    Every session traces each of its entry points once, by design (a fixed signature then serves every
    batch), and TensorFlow counts traces per source function, so a process that builds many sessions
    (`lockstep certify`, the tests, a sweep) would print the warning for each new one: noise that
    hides real output. Only that message is dropped; TensorFlow's other warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_OneTracePerSession())


def onednn_state() -> str:
    """Whether TensorFlow's oneDNN CPU kernels are on, as far as the environment at its import tells."""
    from lockstep.adapters.tensorflow import IMPORTED_BEFORE_ADAPTER

    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is None:  # only when tensorflow was imported before the adapter could set its default
        return "on (tensorflow was imported before lockstep.adapters.tensorflow)" if IMPORTED_BEFORE_ADAPTER else "on"
    return "off" if value.strip().lower() in ("0", "false", "off") else "on"


class TensorFlowAdapter(FrameworkAdapter):
    """`--backend tensorflow`. `allow_tf32=None` reads LOCKSTEP_ALLOW_TF32 (off unless set to 1)."""

    name = "tensorflow"
    SUBCLASS = SUBCLASS
    NATIVE_NOTES = NATIVE_NOTES
    FRAMEWORK = "TensorFlow"
    PART = "tensorflow"

    def __init__(self, allow_tf32: bool | None = None) -> None:
        self.allow_tf32 = allow_tf32

    def versions(self) -> dict[str, str]:
        v = {"lockstep": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
             "keras_backend": keras.backend.backend(), "python": platform.python_version(),
             "onednn": onednn_state()}
        build = tf.sysconfig.get_build_info()
        if tf.config.list_physical_devices("GPU"):
            v["cuda"] = str(build.get("cuda_version", "?"))
            v["cudnn"] = str(build.get("cudnn_version", "?"))
        return v

    def devices(self) -> list[str]:
        return ["cpu", *(f"cuda:{i}" for i in range(len(tf.config.list_physical_devices("GPU"))))]

    def device_problem(self, device: str) -> str | None:
        try:
            name = device_name(device)
        except ValueError as exc:
            return str(exc)
        if name == "/CPU:0":
            return None
        count = len(tf.config.list_physical_devices("GPU"))
        if count == 0:
            return "TensorFlow sees no GPU here"
        if int(name.rsplit(":", 1)[1]) >= count:
            return f"there is no {device} (TensorFlow sees {count} GPU{'s' * (count > 1)})"
        return None

    def configure_threads(self, intra_op: int, inter_op: int = 1) -> dict[str, Any]:
        """tf.config.threading's intra- and inter-op pools. TensorFlow fixes them when its runtime starts (the
        first op anywhere in the process): asked later for other values, it keeps its own, and the values in
        effect are reported (0 is TensorFlow's default: every core)."""
        threading = tf.config.threading
        for setter, value in ((threading.set_intra_op_parallelism_threads, intra_op),
                              (threading.set_inter_op_parallelism_threads, inter_op)):
            try:
                setter(max(1, int(value)))
            except RuntimeError:  # "... cannot be modified after initialization"
                pass
        return {"intra_op": threading.get_intra_op_parallelism_threads(),
                "inter_op": threading.get_inter_op_parallelism_threads()}

    def build(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None) -> Session:
        self.check_target(dtype, device)
        return TFSession(model, dtype=dtype, device=device, recipe=recipe, allow_tf32=self.allow_tf32)
