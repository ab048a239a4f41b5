"""batch_norm -> `StandardBatchNorm`, a keras.layers.BatchNormalization subclass.

Two conventions differ. Keras's `momentum` is the weight of the *running* value (0.99 by default);
the standard's is the weight of the new statistic: the layer is built with `momentum = 1 - m`.
Keras moves `moving_variance` toward the *biased* batch variance (the one it normalizes with); the
standard's running variance takes the unbiased one, σ²·n/(n - 1). The subclass keeps Keras's own
`call` (statistics, normalization, moving-average update) and adds the missing
(1 - momentum)·σ²/(n - 1) to `moving_variance` afterwards, n being the values per channel.
Normalization itself (biased variance, ε inside the root) is Keras's and the standard's.
The layer follows its input's layout: `axis` is the channel axis where the input has it.

Under a tf.distribute strategy (data parallelism, docs/spec/v1-semantics.md) two more rules of the standard:
the running statistics are created with aggregation MEAN, so the replicas' updates are averaged (Keras's
default, NONE, lets each mirrored copy drift on its own and reads replica 0's); and with Keras's own
`synchronized=True` (the `sync` mode) the unbiased correction counts every replica's values, not one's.
"""

from __future__ import annotations

import threading

import keras
import tensorflow as tf
from keras import ops

from lockstep.adapters.tensorflow.layers._base import Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import BatchNorm

LAYOUT: Layout = "any"


class StandardBatchNorm(keras.layers.BatchNormalization):
    """BatchNormalization whose moving variance tracks the unbiased batch variance."""

    def add_weight(self, *args, **kwargs):
        if not kwargs.get("trainable", True) and tf.distribute.has_strategy():
            kwargs["aggregation"] = "mean"  # running statistics: the mean of the replicas' updates
        return super().add_weight(*args, **kwargs)

    def _moments(self, inputs, mask):
        mean, variance = super()._moments(inputs, mask)
        self._trace().variance = variance  # a tensor of this trace, not layer state
        return mean, variance

    def _trace(self) -> threading.local:
        """Per-thread scratch: MirroredStrategy traces every replica's call of this one layer in its own thread
        at the same time, so a plain attribute would hand one replica another's batch variance."""
        local = self.__dict__.get("_lockstep_trace")
        if local is None:
            local = threading.local()
            object.__setattr__(self, "_lockstep_trace", local)  # not layer state (Keras tracks attributes)
        return local

    def call(self, inputs, training=None, mask=None):
        outputs = super().call(inputs, training=training, mask=mask)
        if training and self.trainable:
            variance = self._trace().variance
            count = ops.cast(ops.size(inputs) // inputs.shape[self.axis], variance.dtype)
            context = tf.distribute.get_replica_context() if self.synchronized else None
            if context is not None and tf.distribute.has_strategy():  # the statistics count every replica's values
                count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
            correction = (1.0 - self.momentum) * variance / (count - 1.0)
            self.moving_variance.assign(self.moving_variance + ops.cast(correction, self.moving_variance.dtype))
        return outputs


def build(layer: BatchNorm, shapes: list[Shape], dtype: str, channels_last: bool = False) -> StandardBatchNorm:
    axis = -1 if channels_last or len(shapes[0]) == 1 else 1
    return StandardBatchNorm(axis=axis, momentum=1.0 - layer.momentum, epsilon=layer.epsilon, dtype=dtype)


def slots(m: StandardBatchNorm) -> Slots:
    return {"weight": Slot.of(m.gamma), "bias": Slot.of(m.beta)}


def buffer_slots(m: StandardBatchNorm) -> Slots:
    return {"running_mean": Slot.of(m.moving_mean), "running_var": Slot.of(m.moving_variance)}
