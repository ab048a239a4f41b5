"""The TensorFlow adapter: every v1 construct on native Keras 3 layers, losses and optimizers (TensorFlow
backend), CPU and GPU, float32/64. Where Keras's semantics differ from the standard's the mapping is a
documented subclass of the native class (`SUBCLASS`, docs/adapters/tensorflow.md)."""

from __future__ import annotations

import os
import platform

import keras
import tensorflow as tf

from lockstep import __version__
from lockstep.adapters.base import NATIVE, Adapter, Session, Support, UnsupportedConstruct
from lockstep.adapters.tensorflow.session import TFSession, device_name

SUBCLASS = {
    "conv1d": "PaddedConv1D for explicit padding and for stride with dilation (Keras refuses both)",
    "conv2d": "PaddedConv2D for explicit padding and for stride with dilation (Keras refuses both)",
    "max_pool2d": "PaddedMaxPool2D (-inf padding) for explicit padding",
    "avg_pool2d": "PaddedAvgPool2D (in-bounds count) for explicit padding",
    "dropout": "the standard's keep-mask replaces TensorFlow's RNG",
    "batch_norm": "momentum = 1 - m; moving variance moved to the unbiased batch variance",
    "multi_head_attention": "called as self-attention on one input",
    "binary_crossentropy": "from probabilities: -(t log p + (1 - t) log(1 - p)) in tf ops (Keras clips p)",
    "categorical_crossentropy": "from probabilities: -Σ t log p in tf ops (Keras clips and renormalizes p)",
    "sparse_categorical_crossentropy": "label smoothing: one-hot targets into Keras's categorical CE; "
                                       "from probabilities: -Σ t log p in tf ops",
    "nll": "no Keras loss: -y[target] with tf.gather",
    "sgd": "update_step: PyTorch's buffer b = μb + (1 - d)g, b₁ = g, lr outside the buffer",
    "adam": "update_step: ε added after the bias correction",
    "adamw": "update_step: ε added after the bias correction (decoupled decay is Keras's)",
    "rmsprop": "update_step: ε outside the root, lr outside the momentum buffer",
    "adagrad": "update_step: ε outside the root",
    "constant": "StandardSchedule (float64 LearningRateSchedule)",
    "step": "StandardSchedule (float64 LearningRateSchedule)",
    "exponential": "StandardSchedule (float64 LearningRateSchedule)",
    "cosine": "StandardSchedule (float64 LearningRateSchedule)",
    "warmup": "StandardSchedule (float64 LearningRateSchedule; Keras's warm-up starts elsewhere)",
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


def onednn_state() -> str:
    """Whether TensorFlow's oneDNN CPU kernels are on, as far as the environment at its import tells."""
    from lockstep.adapters.tensorflow import IMPORTED_BEFORE_ADAPTER

    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is None:  # only when tensorflow was imported before the adapter could set its default
        return "on (tensorflow was imported before lockstep.adapters.tensorflow)" if IMPORTED_BEFORE_ADAPTER else "on"
    return "off" if value.strip().lower() in ("0", "false", "off") else "on"


class TensorFlowAdapter(Adapter):
    name = "tensorflow"

    def versions(self) -> dict[str, str]:
        return {"lockstep": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                "python": platform.python_version(),
                "onednn": onednn_state()}

    def devices(self) -> list[str]:
        return ["cpu", *(f"cuda:{i}" for i in range(len(tf.config.list_physical_devices("GPU"))))]

    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        try:
            name = device_name(device)
        except ValueError as exc:
            return Support("unsupported", str(exc))
        if name.startswith("/GPU") and f"cuda:{name.split(':')[1]}" not in self.devices():
            return Support("unsupported", f"TensorFlow sees no GPU {name}")
        if dtype not in ("float32", "float64"):
            return Support("unsupported", f"dtype {dtype}")
        if construct in SUBCLASS:
            return Support("subclass", SUBCLASS[construct])
        return NATIVE

    def build(self, model, *, dtype: str, device: str = "cpu", recipe=None) -> Session:
        if dtype not in ("float32", "float64"):
            raise UnsupportedConstruct(f"dtype:{dtype}", "the TensorFlow adapter runs float32 or float64")
        name = device_name(device)
        if name.startswith("/GPU") and f"cuda:{name.split(':')[1]}" not in self.devices():
            raise ValueError(f"device {device} was asked for but TensorFlow sees no such GPU")
        return TFSession(model, dtype=dtype, device=device, recipe=recipe)
