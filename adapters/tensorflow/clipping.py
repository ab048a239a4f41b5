"""Gradient clipping and coupled L2 in the compiled step (the session's and the data-parallel replicas'): one
place for both graphs.

Global norm: `tf.clip_by_global_norm` with the norm the step already computed for its non-finite check: it
scales by exactly min(1, c / ||g||), the standard's rule (no epsilon). The norm is `tf.linalg.global_norm`,
whose sum of squares overflows in the gradients' dtype although the norm does not (float32 norms above
2^64), or underflows (a norm below SMALL_NORM: squares in the subnormals, which TensorFlow flushes to 0);
there, and only there, `global_norm` computes it again on the gradients scaled by a power of two (exact) and
scales it back, so finite gradients never give a non-finite norm below the dtype's limit, nor a lost one.
By value: `tf.clip_by_value`, the standard's clip(g, -c, c). Coupled L2 adds l2·w to every gradient after
clipping (Keras's `weight_decay` is decoupled and its regularizers act through the loss):
`adapters/tensorflow/optimizers.py`'s REGULARIZATION.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

Grads = list[tf.Tensor]
SMALL_NORM = {"float32": 2.0 ** -60, "float64": 2.0 ** -500}
"""A norm below this may come from squares that lost bits as subnormals, or vanished: computed again scaled."""


def _beyond(grads: Grads, threshold: float) -> bool:
    """Whether a clipping threshold lies beyond the gradients' dtype, so that it clips nothing; compared in Python
    floats (NumPy warns casting 1e39 down to float32)."""
    return bool(grads) and float(threshold) > float(grads[0].dtype.max)


def clip_to_norm(grads: Grads, max_norm: float, norm: tf.Tensor) -> Grads:
    """`tf.clip_by_global_norm`; a max_norm beyond the gradients' dtype clips nothing (a finite ‖g‖ is below it),
    where TensorFlow would scale by inf · (1/inf) = NaN."""
    if _beyond(grads, max_norm):
        return grads
    return tf.clip_by_global_norm(grads, max_norm, use_norm=norm)[0]


def clip_to_value(grads: Grads, clip_value: float) -> Grads:
    """`tf.clip_by_value` at ±clip_value; a threshold beyond the gradients' dtype clips nothing, said so here rather
    than by casting it to ±inf (the same gradients, without NumPy's overflow warning on the user's terminal)."""
    if _beyond(grads, clip_value):
        return grads
    return [tf.clip_by_value(g, -clip_value, clip_value) for g in grads]


CLIPPING: dict[str, Callable[[Grads, Any, tf.Tensor], Grads]] = {
    "global_norm": lambda gs, clip, norm: clip_to_norm(gs, clip.max_norm, norm),
    "value": lambda gs, clip, norm: clip_to_value(gs, clip.clip_value),
}
"""Each spec clipping's TensorFlow mapping, by name: `fn(gradients, clipping, global norm) -> gradients`."""


def global_norm(grads: Grads) -> tf.Tensor:
    """‖g‖ as the standard means it: tf.linalg.global_norm, or `_scaled_norm` where that overflowed (a
    tf.cond in a graph; eagerly, a look at the value)."""
    norm = tf.linalg.global_norm(grads)
    if not grads:
        return norm
    small = SMALL_NORM.get(grads[0].dtype.name, 0.0)
    if tf.executing_eagerly():
        value = float(norm.numpy())
        return norm if math.isfinite(value) and not value < small else _scaled_norm(grads)
    plain = tf.math.is_finite(norm) & (norm >= tf.constant(small, norm.dtype))  # not cast: 2⁻⁵⁰⁰ in float32 is 0
    return tf.cond(plain, lambda: norm, lambda: _scaled_norm(grads))


def _scaled_norm(grads: Grads) -> tf.Tensor:
    """global_norm(g·2⁻ᵉ)·2ᵉ, 2ᵉ above the largest |g|: exact scalings. Non-finite gradients stay non-finite
    (inf scales by 0 into NaN); gradients that are all 0 give 0."""
    top = tf.reduce_max(tf.stack([tf.reduce_max(tf.abs(g)) for g in grads]))
    e = tf.math.floor(tf.math.log(tf.maximum(tf.cast(top, tf.float64), 2.0 ** -1074)) / math.log(2.0)) + 1.0
    e = tf.maximum(e, 3.0 - np.finfo(grads[0].dtype.as_numpy_dtype).maxexp)  # 2⁻ᵉ stays inside the dtype
    down = tf.cast(tf.pow(tf.constant(2.0, tf.float64), -e), grads[0].dtype)
    root = tf.cast(tf.linalg.global_norm([g * down for g in grads]), tf.float64)
    return tf.cast(root * tf.pow(tf.constant(2.0, tf.float64), e), grads[0].dtype)


def clip_and_regularize(grads: Grads, clipping: Any, norm: tf.Tensor, l2: float, variables: list[Any]) -> Grads:
    """The gradients the optimizer applies: clipped (if the recipe clips), then coupled L2 (if l2 > 0)."""
    from lockstep.adapters.tensorflow.optimizers import REGULARIZATION

    if clipping is not None:
        if clipping.type not in CLIPPING:
            raise KeyError(f"no TensorFlow mapping for clipping `{clipping.type}`")
        grads = CLIPPING[clipping.type](grads, clipping, norm)
    if l2:
        with np.errstate(over="ignore"):  # an l2 beyond float32 becomes inf converting, as the standard has it
            grads = REGULARIZATION["l2"](grads, variables, l2)
    return grads
