"""Idiomatic hand-written Keras/TensorFlow training loops for the example recipes.

Each model is written by hand with keras.layers, as a practitioner would (channels-last convolutions
behind a `Permute`, a `Permute` back before `Flatten` so the dense layer sees the recipe's feature
order); the loop is the textbook custom loop: a `@tf.function` train step with a fixed input signature (traced
once, the last partial batch included), GradientTape, gradients,
L2 added to them, `optimizer.apply_gradients` with Keras's own clipping and a Keras learning-rate
schedule), `float(loss)` for the log, a compiled eval pass and a checkpoint (every model and optimizer
variable, `np.savez`) at the recipe's cadence. Same data batches, initial weights, optimizer, schedule,
clipping, L2 and step count as `lockstep run`; native Keras optimizers and batch norm (their own
conventions: the same work, not the same numbers), dropout with Keras's own RNG. See
baselines/__init__.py for the interface.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as the adapter (docs/adapters/tensorflow.md)

import keras
import numpy as np
import tensorflow as tf
from keras import layers

if TYPE_CHECKING:
    from lockstep.runner import Prepared

# canonical name -> (layer name, weight index in layer.weights, how: "" as is, "conv" [out,in,kh,kw] -> HWIO,
#                    "heads" [E, E] -> [E, H, d] / [H, d, E])
Mapping = dict[str, tuple[str, int, str]]


# ------------------------------------------------------------------------------------ the models
def digits_mlp(dtype: str) -> tuple[keras.Model, Mapping]:
    m = keras.Sequential([keras.Input((64,), dtype=dtype), layers.Dense(32, "relu", name="hidden", dtype=dtype),
                          layers.Dense(10, name="logits", dtype=dtype)])
    return m, _dense("hidden", "logits")


def small_cnn(dtype: str) -> tuple[keras.Model, Mapping]:
    m = keras.Sequential([
        keras.Input((1, 8, 8), dtype=dtype), layers.Permute((2, 3, 1)),
        layers.Conv2D(8, 3, padding="same", name="conv1", dtype=dtype),
        layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn1", dtype=dtype), layers.ReLU(),
        layers.Conv2D(16, 3, strides=2, padding="same", name="conv2", dtype=dtype), layers.ReLU(),
        layers.MaxPooling2D(2), layers.Permute((3, 1, 2)), layers.Flatten(),
        layers.Dense(10, name="logits", dtype=dtype)])
    return m, {"conv1.weight": ("conv1", 0, "conv"), "conv1.bias": ("conv1", 1, ""), "bn1.weight": ("bn1", 0, ""),
               "bn1.bias": ("bn1", 1, ""), "bn1.running_mean": ("bn1", 2, ""), "bn1.running_var": ("bn1", 3, ""),
               "conv2.weight": ("conv2", 0, "conv"), "conv2.bias": ("conv2", 1, ""), **_dense("logits")}


def huber_regression(dtype: str) -> tuple[keras.Model, Mapping]:
    m = keras.Sequential([keras.Input((8,), dtype=dtype), layers.Dense(16, "silu", name="hidden", dtype=dtype),
                          layers.Dense(2, name="out", dtype=dtype)])
    return m, _dense("hidden", "out")


def csv_binary(dtype: str) -> tuple[keras.Model, Mapping]:
    m = keras.Sequential([keras.Input((2,), dtype=dtype), layers.Dense(16, "tanh", name="hidden1", dtype=dtype),
                          layers.Dense(16, name="hidden2", dtype=dtype), layers.LeakyReLU(0.1),
                          layers.Dense(1, name="logit", dtype=dtype)])
    return m, _dense("hidden1", "hidden2", "logit")


def inline_model(dtype: str) -> tuple[keras.Model, Mapping]:
    m = keras.Sequential([
        keras.Input((2, 6, 6), dtype=dtype), layers.Permute((2, 3, 1)),
        layers.Conv2D(6, 3, padding="same", name="conv", dtype=dtype), layers.ELU(), layers.AveragePooling2D(2),
        layers.Permute((3, 1, 2)), layers.Flatten(), layers.Dense(3, name="logits", dtype=dtype),
        layers.Activation("log_softmax")])
    return m, {"conv.weight": ("conv", 0, "conv"), "conv.bias": ("conv", 1, ""), **_dense("logits")}


def lstm_sequences(dtype: str) -> tuple[keras.Model, Mapping]:
    m = keras.Sequential([keras.Input((16, 2), dtype=dtype), layers.LSTM(12, name="lstm", dtype=dtype),
                          layers.Dense(2, name="logits", dtype=dtype)])
    return m, {"lstm.weight_ih": ("lstm", 0, ""), "lstm.weight_hh": ("lstm", 1, ""), "lstm.bias": ("lstm", 2, ""),
               **_dense("logits")}


def embedding_gru(dtype: str) -> tuple[keras.Model, Mapping]:
    m = keras.Sequential([keras.Input((12,), dtype="int64"), layers.Embedding(10, 8, name="embed", dtype=dtype),
                          layers.GRU(12, name="gru", dtype=dtype), layers.Dropout(0.1),
                          layers.Dense(2, name="logits", dtype=dtype)])
    return m, {"embed.weight": ("embed", 0, ""), "gru.weight_ih": ("gru", 0, "zrh"), "gru.weight_hh": ("gru", 1, "zrh"),
               "gru.bias_ih": ("gru", 2, "zrh0"), "gru.bias_hh": ("gru", 2, "zrh1"), **_dense("logits")}


def residual_graph(dtype: str) -> tuple[keras.Model, Mapping]:
    x = keras.Input((12,), dtype=dtype)
    p = layers.Dense(16, name="proj", dtype=dtype)(x)
    h = layers.LayerNormalization(epsilon=1e-5, name="norm", dtype=dtype)(p)
    h = layers.Dense(16, name="inner", dtype=dtype)(h)
    h = layers.Activation(lambda v: keras.activations.gelu(v, approximate=True))(h)
    out = layers.Dense(4, name="logits", dtype=dtype)(layers.Concatenate()([layers.Add()([p, h]), x]))
    return keras.Model(x, out), _dense("proj", "norm", "inner", "logits")


def tiny_attention(dtype: str) -> tuple[keras.Model, Mapping]:
    x = keras.Input((12, 3), dtype=dtype)
    h = layers.Dense(8, name="embed", dtype=dtype)(x)
    a = layers.MultiHeadAttention(2, 4, use_bias=False, name="attention", dtype=dtype)(h, h, use_causal_mask=True)
    out = layers.Dense(3, name="logits", dtype=dtype)(layers.Flatten()(a))
    heads = {f"attention.{p}_weight": ("attention", i, "heads") for i, p in enumerate(("query", "key", "value",
                                                                                        "output"))}
    return keras.Model(x, out), {**_dense("embed", "logits"), **heads}


def _dense(*names: str) -> Mapping:
    return {f"{n}.{k}": (n, i, "") for n in names for i, k in enumerate(("weight", "bias"))}


MODELS: dict[str, Callable[[str], tuple[keras.Model, Mapping]]] = {
    "digits-mlp": digits_mlp, "small-cnn": small_cnn, "huber-regression": huber_regression,
    "csv-binary": csv_binary, "inline-model": inline_model, "lstm-sequences": lstm_sequences,
    "embedding-gru": embedding_gru, "residual-graph": residual_graph, "tiny-attention": tiny_attention,
}


# ------------------------------------------------------------------------------------------ helpers
def _to_keras(value: np.ndarray, how: str, shape: tuple[int, ...]) -> np.ndarray:
    if how == "conv":
        return value.transpose(2, 3, 1, 0)
    if how == "heads":
        return value.reshape(shape)
    if how.startswith("zrh"):  # the recipe's GRU gates (r, z, n) -> Keras's (z, r, h)
        h = value.shape[-1] // 3
        return np.concatenate([value[..., h:2 * h], value[..., :h], value[..., 2 * h:]], axis=-1)
    return value


def _load(model: keras.Model, mapping: Mapping, initial: dict[str, np.ndarray]) -> None:
    for canon, (layer, index, how) in mapping.items():
        var = model.get_layer(layer).weights[index]
        value = _to_keras(initial[canon], how, tuple(var.shape))
        if how in ("zrh0", "zrh1"):  # Keras keeps both GRU biases in one [2, 3H] variable
            full = var.numpy()
            full[int(how[-1])] = value
            value = full
        var.assign(value)


def supports(prep: Prepared) -> bool:
    name = prep.recipe.metadata.name
    if name not in MODELS:
        return False
    model, mapping = MODELS[name]("float64")
    if set(mapping) != set(prep.initial):
        return False
    for canon, (layer, index, how) in mapping.items():
        var = model.get_layer(layer).weights[index]
        want = tuple(var.shape)[1:] if how in ("zrh0", "zrh1") else tuple(var.shape)
        if int(np.prod(want)) != prep.initial[canon].size:
            return False
    return True


def configure(threads: int | None) -> None:
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # the runtime has started already
            pass


class _Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up into another schedule (or a constant): what a practitioner writes for Keras."""

    def __init__(self, base: float, steps: int, start: float, after: Any) -> None:
        self.base, self.steps, self.start, self.after = base, steps, start, after

    def __call__(self, step):
        t = tf.cast(step, tf.float32)
        warm = self.base * (self.start + (1 - self.start) * t / self.steps)
        after = self.after(t - self.steps) if callable(self.after) else self.after
        return tf.where(t < self.steps, warm, after)


def _schedule(r) -> Any:
    s, base = r.schedule, r.optimizer.learning_rate
    sched = keras.optimizers.schedules
    if s.type == "cosine" and s.warmup is not None:
        return sched.CosineDecay(base * s.warmup.start_factor, s.decay_steps, alpha=s.min_learning_rate / base,
                                 warmup_target=base, warmup_steps=s.warmup.steps)
    main: Any = {"constant": lambda: base,
                 "step": lambda: sched.ExponentialDecay(base, s.step_size, s.gamma, staircase=True),
                 "exponential": lambda: sched.ExponentialDecay(base, 1, s.gamma),
                 "cosine": lambda: sched.CosineDecay(base, s.decay_steps, alpha=s.min_learning_rate / base)}[s.type]()
    if s.warmup is None:
        return main
    return _Warmup(base, s.warmup.steps, s.warmup.start_factor, main)


def _optimizer(r) -> keras.optimizers.Optimizer:
    o, lr = r.optimizer, _schedule(r)
    clip = r.gradient_clipping
    kw: dict[str, Any] = {}
    if clip is not None:
        kw = {"global_clipnorm": clip.max_norm} if clip.type == "global_norm" else {"clipvalue": clip.clip_value}
    if o.type == "sgd":
        return keras.optimizers.SGD(lr, momentum=o.momentum, nesterov=o.nesterov, **kw)
    if o.type == "adam":
        return keras.optimizers.Adam(lr, o.beta1, o.beta2, o.epsilon, amsgrad=o.amsgrad, **kw)
    if o.type == "adamw":
        return keras.optimizers.AdamW(lr, o.weight_decay, o.beta1, o.beta2, o.epsilon, amsgrad=o.amsgrad, **kw)
    if o.type == "rmsprop":
        return keras.optimizers.RMSprop(lr, o.rho, o.momentum, o.epsilon, o.centered, **kw)
    return keras.optimizers.Adagrad(lr, o.initial_accumulator_value, o.epsilon, **kw)


def _loss(r) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    loss = r.loss
    if loss.type == "huber":
        return keras.losses.Huber(loss.delta)
    if loss.type == "nll":
        return lambda y, out: -tf.reduce_mean(tf.gather(out, y, batch_dims=1))
    if loss.type == "binary_crossentropy":
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        return lambda y, out: bce(tf.reshape(y, tf.shape(out)), out)
    if loss.type == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=loss.label_smoothing)
    if loss.label_smoothing:
        cce = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=loss.label_smoothing)
        return lambda y, out: cce(tf.one_hot(y, tf.shape(out)[-1]), out)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _metrics(r, out: np.ndarray, y: np.ndarray, loss_fn) -> dict[str, float]:
    result = {}
    for m in r.evaluation.metrics:
        if m == "loss":
            result["loss"] = float(loss_fn(y, out))
        elif m == "accuracy":
            if out.shape[-1] == 1:
                pred, truth = (out[..., 0] > 0), y.reshape(-1) > 0.5
            else:
                pred, truth = out.argmax(-1), (y.argmax(-1) if y.ndim == out.ndim else y)
            result["accuracy"] = float(np.mean(pred == truth))
        elif m == "mse":
            result["mse"] = float(np.mean((out - y) ** 2))
        elif m == "mae":
            result["mae"] = float(np.mean(np.abs(out - y)))
    return result


# ---------------------------------------------------------------------------------------- the loop
def train(prep: Prepared, device: str, workdir: Path) -> float:
    r = prep.recipe
    dev = "/GPU:0" if device.startswith(("cuda", "gpu")) else "/CPU:0"
    t0 = time.perf_counter()
    with tf.device(dev):
        model, mapping = MODELS[r.metadata.name](r.dtype)
        _load(model, mapping, prep.initial)
        opt = _optimizer(r)
        loss_fn = _loss(r)
        l2 = r.regularization.l2
        variables = model.trainable_variables

        _, x0, y0 = prep.data.batch(0)  # one trace for every batch size, the last partial one included
        xs, ys = (tf.TensorSpec((None, *a.shape[1:]), a.dtype) for a in (x0, y0))

        @tf.function(input_signature=[xs, ys])
        def train_step(x, y):
            lr = opt.learning_rate  # this step's rate, for the log
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, variables)
            if l2:
                grads = [g + l2 * w for g, w in zip(grads, variables, strict=True)]
            opt.apply_gradients(zip(grads, variables, strict=True))
            return loss, lr

        @tf.function(input_signature=[xs])
        def predict(x):
            return model(x, training=False)

        every = r.evaluation.every
        ckpt = r.checkpoint
        kept: list[Path] = []
        record: dict[str, Any] = {}
        with open(workdir / "log.jsonl", "w") as log:
            for step in range(prep.total_steps):
                _, x, y = prep.data.batch(step)
                loss, lr = train_step(x, y)
                record = {"step": step + 1, "loss": float(loss), "lr": float(lr)}
                done = step + 1
                if (every and done % every == 0) or done == prep.total_steps:
                    record["eval"] = _metrics(r, predict(prep.data.x_eval).numpy(), prep.data.y_eval, loss_fn)
                log.write(json.dumps(record) + "\n")
                if ckpt is not None and (done % ckpt.every == 0 or done == prep.total_steps):
                    path = workdir / f"step-{done:08d}.npz"
                    np.savez(path, *[v.numpy() for v in model.variables], *[v.numpy() for v in opt.variables])
                    kept.append(path)
                    while len(kept) > ckpt.keep:
                        kept.pop(0).unlink()
    assert math.isfinite(record["loss"])
    return time.perf_counter() - t0
