"""Spec losses on native Keras losses, each built with the session's dtype (Keras losses otherwise
compute in the global floatx, float32).

Divergences closed here (docs/adapters/tensorflow.md):
- reduction: Keras's elementwise losses (mse, mae, huber, binary CE) first average over the last axis
  per sample and then reduce; the standard reduces over every element. The adapter gives Keras a
  trailing axis of size 1, so Keras's per-sample value *is* the standard's per-element one, and
  Keras's "sum_over_batch_size" / "sum" are then the standard's "mean" / "sum" exactly.
- probabilities: Keras clips probabilities to [1e-7, 1 - 1e-7] (and adds 1e-7 inside the logs, and
  renormalizes categorical ones); the standard never clips. From probabilities, binary and categorical
  cross-entropy (sparse included) are therefore `-Σ t log p` written in TensorFlow ops (their label
  smoothing is the reference's own `smooth` on tensors), as is nll, which Keras does not have. The logs are
  `tf.math.xlogy(t, p)` and `tf.math.xlog1py(1 - t, -p)`: a term whose weight is 0 is 0 whatever p is
  (0 log 0 = 0, v1-semantics § Losses), and their native gradients with respect to p are `xdivy(t, p)` /
  `xdivy(1 - t, 1 - p)`, exactly 0 there too (a plain `t * log(p)` gives 0 · (-inf) = NaN at a saturated
  sigmoid or softmax).
- soft targets: from logits, TensorFlow's op gives the gradient softmax(y) - t, the loss's only where a target row
  sums to 1; the standard's is softmax(y)·Σt - t (targets never renormalized): categorical cross-entropy from
  logits is `-Σ t log_softmax(y)` in TensorFlow ops (sparse targets, one-hot rows, keep Keras's loss).
- label smoothing: Keras's binary (t(1 - s) + s/2) and categorical (t(1 - s) + s/C) smoothing are the
  standard's; sparse CE has no smoothing in Keras, so with smoothing the targets are one-hot encoded
  and Keras's categorical CE (from logits) takes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from lockstep.reference.losses import smooth

if TYPE_CHECKING:
    from lockstep.spec.losses import Loss

LossFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]

KERAS_REDUCTION = {"mean": "sum_over_batch_size", "sum": "sum"}


def _reduce(per: tf.Tensor, reduction: str) -> tf.Tensor:
    return tf.reduce_sum(per) if reduction == "sum" else tf.reduce_mean(per)


def _elementwise(native: keras.losses.Loss) -> LossFn:
    """A Keras elementwise loss given a trailing axis of size 1: its per-sample value is the standard's
    per-element one, and its reduction the standard's over every element."""
    def elementwise(y: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        target = tf.reshape(tf.cast(target, y.dtype), tf.shape(y))
        return native(target[..., None], y[..., None])

    return elementwise


def _mse(loss: Any, dtype: str) -> LossFn:
    return _elementwise(keras.losses.MeanSquaredError(reduction=KERAS_REDUCTION[loss.reduction], dtype=dtype))


def _mae(loss: Any, dtype: str) -> LossFn:
    return _elementwise(keras.losses.MeanAbsoluteError(reduction=KERAS_REDUCTION[loss.reduction], dtype=dtype))


def _huber(loss: Any, dtype: str) -> LossFn:
    return _elementwise(keras.losses.Huber(delta=loss.delta, reduction=KERAS_REDUCTION[loss.reduction],
                                           dtype=dtype))


def _binary_crossentropy(loss: Any, dtype: str) -> LossFn:
    red, s = loss.reduction, loss.label_smoothing
    if loss.from_logits:
        return _elementwise(keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=s,
                                                            reduction=KERAS_REDUCTION[red], dtype=dtype))

    def binary_probs(p: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        target = smooth(tf.reshape(tf.cast(target, p.dtype), tf.shape(p)), s, 2)
        return _reduce(-(tf.math.xlogy(target, p) + tf.math.xlog1py(1 - target, -p)), red)

    return binary_probs


def _nll(loss: Any, dtype: str) -> LossFn:
    red = loss.reduction

    def nll(y: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        picked = tf.gather(y, tf.cast(target, tf.int64)[..., None], batch_dims=len(y.shape) - 1)
        return _reduce(-picked[..., 0], red)

    return nll


def _cross_entropy(loss: Any, dtype: str, sparse: bool) -> LossFn:
    red, s = loss.reduction, loss.label_smoothing
    kred = KERAS_REDUCTION[red]
    if loss.from_logits:
        if sparse and s == 0.0:
            native = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=kred, dtype=dtype)
            return lambda y, target: native(target, y)
        if sparse:  # one-hot rows, smoothed or not, sum to 1: Keras's gradient is the standard's
            onehot = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=s, reduction=kred,
                                                          dtype=dtype)
            return lambda y, target: onehot(tf.one_hot(tf.cast(target, tf.int64), tf.shape(y)[-1], dtype=y.dtype), y)

        def categorical_logits(y: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
            """-Σ t log_softmax(y): TensorFlow's softmax cross-entropy (under Keras's CategoricalCrossentropy from
            logits) computes that loss for any targets, but takes its gradient as softmax(y) - t, the loss's only
            where a row sums to 1 (an all-zero row, a padded position, got softmax(y) where its gradient is 0:
            docs/reproducers/keras-soft-target-gradient). LogSoftmax's own gradient, g - softmax(y)·Σg, is the
            standard's softmax(y)·Σt - t, exactly 0 for a row of zeros (a zero-valued correction term on the native
            loss left an ulp of softmax there)."""
            rows = smooth(tf.cast(target, y.dtype), s, tf.cast(tf.shape(y)[-1], y.dtype))
            return _reduce(-tf.reduce_sum(rows * tf.nn.log_softmax(y, axis=-1), axis=-1), red)

        return categorical_logits

    def categorical_probs(p: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        classes = tf.shape(p)[-1]
        if sparse:
            target = tf.one_hot(tf.cast(target, tf.int64), classes, dtype=p.dtype)
        target = smooth(tf.cast(target, p.dtype), s, tf.cast(classes, p.dtype))
        return _reduce(-tf.reduce_sum(tf.math.xlogy(target, p), axis=-1), red)

    return categorical_probs


LOSSES: dict[str, Callable[[Any, str], LossFn]] = {
    "mse": _mse, "mae": _mae, "huber": _huber, "binary_crossentropy": _binary_crossentropy,
    "categorical_crossentropy": lambda loss, dtype: _cross_entropy(loss, dtype, sparse=False),
    "sparse_categorical_crossentropy": lambda loss, dtype: _cross_entropy(loss, dtype, sparse=True),
    "nll": _nll,
}
"""Each spec loss's TensorFlow mapping, by name: `fn(loss, dtype) -> fn(prediction, target) -> scalar`."""


def build(loss: Loss, dtype: str) -> LossFn:
    """`fn(prediction, target) -> scalar loss` for a spec loss; prediction [N, ..., C] in `dtype`."""
    if loss.type not in LOSSES:
        raise KeyError(f"no TensorFlow mapping for loss `{loss.type}`")
    return LOSSES[loss.type](loss, dtype)
