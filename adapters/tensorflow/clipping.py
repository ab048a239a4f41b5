"""Gradient clipping and coupled L2 in the compiled step (the session's and the data-parallel replicas'): one
place for both graphs.

Global norm: `tf.clip_by_global_norm` with the norm the step already computed for its non-finite check: it
scales by exactly min(1, c / ||g||), the standard's rule (no epsilon). By value: `tf.clip_by_value`, the
standard's clip(g, -c, c). Coupled L2 adds l2·w to every gradient after clipping (Keras's `weight_decay` is
decoupled and its regularizers act through the loss): `adapters/tensorflow/optimizers.py`'s REGULARIZATION.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

Grads = list[tf.Tensor]

CLIPPING: dict[str, Callable[[Grads, Any, tf.Tensor], Grads]] = {
    "global_norm": lambda gs, clip, norm: tf.clip_by_global_norm(gs, clip.max_norm, use_norm=norm)[0],
    "value": lambda gs, clip, norm: [tf.clip_by_value(g, -clip.clip_value, clip.clip_value) for g in gs],
}
"""Each spec clipping's TensorFlow mapping, by name: `fn(gradients, clipping, global norm) -> gradients`."""


def clip_and_regularize(grads: Grads, clipping: Any, norm: tf.Tensor, l2: float, variables: list[Any]) -> Grads:
    """The gradients the optimizer applies: clipped (if the recipe clips), then coupled L2 (if l2 > 0)."""
    from lockstep.adapters.tensorflow.optimizers import REGULARIZATION

    if clipping is not None:
        if clipping.type not in CLIPPING:
            raise KeyError(f"no TensorFlow mapping for clipping `{clipping.type}`")
        grads = CLIPPING[clipping.type](grads, clipping, norm)
    if l2:
        grads = REGULARIZATION["l2"](grads, variables, l2)
    return grads
