"""The TensorFlow adapter: every spec v1 construct on native Keras 3 layers, losses and optimizers
(TensorFlow backend), CPU and GPU, float32/64.

`support()` answers from one table, `PROVENANCE`: `native` where a Keras (or TensorFlow) class or op has the
standard's semantics (named), `bridged` where it does with a stated adjustment, `written` where the adapter
computes the construct itself (the note says why; the full account is docs/adapters/tensorflow.md). Nothing in
v1 is unsupported.
"""

from __future__ import annotations

import logging
import os
import platform
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from lockstep import __version__
from lockstep.adapters.base import FrameworkAdapter, Session, Support, bridged, native, unknown_device, written
from lockstep.adapters.tensorflow.session import TFSession, device_name

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

PROVENANCE: dict[str, Support | dict[str, Support]] = {
    # layers
    "dense": native("keras.layers.Dense (kernel [in, out] as is); `tied_to`: x · Eᵀ with the embedding's own "
                    "variable (tf.matmul)"),
    "conv1d": bridged("keras.layers.Conv1D ('valid'/'same' as is); explicit padding is a zero pad before it, and "
                      "stride with dilation (Keras refuses) runs it at stride 1 keeping every stride-th output "
                      "(PaddedConv1D)"),
    "conv2d": bridged("keras.layers.Conv2D ('valid'/'same' as is); explicit padding is a zero pad before it, and "
                      "stride with dilation (Keras refuses) runs it at stride 1 keeping every stride-th output "
                      "(PaddedConv2D)"),
    "max_pool2d": bridged("keras.layers.MaxPooling2D ('valid'/'same' as is); explicit padding is a -inf pad before "
                          "it (PaddedMaxPool2D)"),
    "avg_pool2d": bridged("keras.layers.AveragePooling2D ('valid'/'same' as is: SAME excludes padding); explicit "
                          "padding rescales its average of the zero-padded input by window size / in-bounds count "
                          "(PaddedAvgPool2D)"),
    "dropout": written("x · keep / (1 - rate) (StandardDropout): the standard's keep-mask replaces TensorFlow's RNG, "
                       "so keras.layers.Dropout's own noise never runs"),
    "batch_norm": bridged("keras.layers.BatchNormalization with momentum = 1 - m (Keras weights the running value); "
                          "after its own update the moving variance gets (1 - m)·σ²/(n - 1) more, the standard's "
                          "unbiased running variance (StandardBatchNorm)"),
    "layer_norm": native("keras.layers.LayerNormalization(axis=last dims, epsilon)"),
    "embedding": native("keras.layers.Embedding"),
    "lstm": native("keras.layers.LSTM: gates i, f, c(=g), o and one bias, as the standard"),
    "gru": native("keras.layers.GRU(reset_after=True): gate blocks z, r, h reordered, bias [2, 3H] split"),
    "multi_head_attention": written("with `rotary`: the rotation of q and k written by the adapter into "
                                    "keras.layers.MultiHeadAttention's seam between projections and scores "
                                    "(_compute_attention; Keras has no rotary option); causal in float64: scores, "
                                    "−∞ mask and softmax written (Keras masks with a float32-range −2.4e38); "
                                    "otherwise bridged: "
                                    "keras.layers.MultiHeadAttention called as attn(x, x); projection biases added "
                                    "by broadcasting (Keras's bias_add guesses the axis wrong for head size 1); in "
                                    "float64 the query is scaled by an exact 1/sqrt(d) (Keras casts it through "
                                    "float32)"),
    "rms_norm": native("keras.layers.RMSNormalization(axis, epsilon); `scale: false`: its scale held at ones, "
                       "not trained"),
    "positional_embedding": written("sinusoidal: the standard's float64 table rounded once to the dtype and "
                                    "added (Keras has no such layer; KerasHub's SinePositionEncoding is "
                                    "half-split); learned: native keras.layers.Embedding looked up at positions "
                                    "0..T-1 and added"),
    "multiply": native("keras.layers.Multiply"),
    "flatten": native("keras.layers.Flatten (channels-first)"), "reshape": native("keras.layers.Reshape"),
    "global_avg_pool": native("keras.layers.GlobalAveragePooling1D/2D/3D; ranks above 4: keras.ops.mean"),
    "add": native("keras.layers.Add"), "concat": native("keras.layers.Concatenate"),
    "relu": native("keras.layers.ReLU"), "elu": native("keras.layers.ELU(alpha)"),
    "leaky_relu": {"float32": native("keras.layers.LeakyReLU(negative_slope)"),
                   "float64": written("where(x > 0, x, slope·x) (StandardLeakyReLU): TensorFlow's LeakyRelu kernel "
                                      "holds the slope in float32")},
    "gelu": {"float32": native("keras.activations.gelu(approximate)"),
             "float64": written("the two GELU formulas with float64 constants (StandardGELU): tf.nn.gelu rounds "
                                "0.044715 and 1/√2 through float32")},
    "silu": native("keras.activations.silu"), "sigmoid": native("keras.activations.sigmoid"),
    "tanh": native("keras.activations.tanh"), "softmax": native("keras.layers.Softmax(axis)"),
    "log_softmax": native("keras.activations.log_softmax(axis)"),
    # losses
    "mse": native("keras.losses.MeanSquaredError (per element)"),
    "mae": native("keras.losses.MeanAbsoluteError (per element)"),
    "huber": native("keras.losses.Huber(delta) (per element)"),
    "binary_crossentropy": written("from probabilities -(t log p + (1 - t) log(1 - p)) in tf ops (Keras clips p "
                                   "to [1e-7, 1 - 1e-7]); from logits native keras.losses.BinaryCrossentropy"),
    "categorical_crossentropy": written("from probabilities -Σ t log p in tf ops (Keras clips and renormalizes "
                                        "p); from logits -Σ t log_softmax(y) in tf ops (Keras's "
                                        "CategoricalCrossentropy takes the gradient as softmax(y) - t, wrong for "
                                        "target rows not summing to 1)"),
    "sparse_categorical_crossentropy": written("from probabilities -Σ t log p in tf ops; from logits native "
                                               "keras.losses.SparseCategoricalCrossentropy (with label smoothing "
                                               "CategoricalCrossentropy of one-hot targets)"),
    "nll": written("-y[target] with tf.gather: Keras has no negative log-likelihood loss"),
    # optimizers (adapters/tensorflow/optimizers.py)
    "sgd": written("with momentum StandardSGD.update_step: b = μb + (1 - d)g, b₁ = g, w -= lr·b (Keras keeps "
                   "v = μv - lr·g: no mapping once the rate changes or dampening is set); without momentum native "
                   "keras.optimizers.SGD"),
    "adam": bridged("keras.optimizers.Adam's own update_step, handed ε̂ = ε·√(1 - β₂ᵗ) and a step size that "
                    "replaces its bias corrections (1 - βᵗ from float32-rounded β's) by the standard's"),
    "adamw": bridged("keras.optimizers.AdamW: its own decoupled decay (float64 in float64 runs) and Adam "
                     "update_step, handed ε̂ = ε·√(1 - β₂ᵗ) and the standard's bias corrections"),
    "rmsprop": written("StandardRMSprop.update_step: ε outside the root, lr outside the momentum buffer (Keras's "
                       "√(v + ε) has no scalar mapping)"),
    "adagrad": written("StandardAdagrad.update_step: ε outside the root (Keras's √(s + ε) has no scalar mapping), "
                       "accumulators start exactly at initial_accumulator_value"),
    "l2": written("g + l2·w in the compiled step after clipping (Keras's weight_decay is decoupled, its "
                  "regularizers act through the loss)"),
    # schedules (adapters/tensorflow/schedules.py)
    "constant": written("a float64 constant (ConstantRate): Keras has no constant schedule, and a float learning "
                        "rate becomes a float32 variable"),
    "step": native("keras.optimizers.schedules.ExponentialDecay(staircase=True), float64 constants"),
    "exponential": native("keras.optimizers.schedules.ExponentialDecay(decay_steps=1), float64 constants"),
    "cosine": bridged("keras.optimizers.schedules.CosineDecay with alpha = min / base (Keras's floor is a fraction "
                      "of the rate), float64 constants"),
    "warmup": written("the reference's warm-up factor on float64 tensors, then the schedule at t - W (WarmupThen): "
                      "only CosineDecay has a Keras warm-up, which cosine schedules use (bridged: "
                      "initial_learning_rate = base·f, warmup_target = base)"),
    # clipping
    "global_norm": bridged("tf.clip_by_global_norm (no epsilon) with use_norm = tf.linalg.global_norm, taken "
                           "again on the gradients scaled by a power of two where its sum of squares overflows "
                           "(norms above 2^64 in float32)"),
    "value": native("tf.clip_by_value"),
}
"""Every construct's provenance on TensorFlow (adapters/base.py: native, bridged, written), audited against the
mapping modules; docs/adapters/tensorflow.md tells the same story in prose."""


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
    PROVENANCE = PROVENANCE
    FRAMEWORK = "TensorFlow"
    PART = "tensorflow"
    EXECUTION = ("compiled: one tf.function graph per entry point, traced once, grappler's rewrites off (unless "
                 "LOCKSTEP_TF_GRAPH_REWRITES=1); eager (the same ops one by one) in a session told it serves a few "
                 "calls: certify's generated cases, levels 1-3 (LOCKSTEP_TF_COMPILE_ALWAYS=1 compiles those too)")

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
        if (unknown := unknown_device(device.lower(), ("cuda", "gpu"))) is not None:  # cpu:1 was taken as the cpu
            return unknown
        name = device_name(device)
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
