"""batch_norm -> `StandardBatchNorm`, a keras.layers.BatchNormalization subclass.

Two conventions differ. Keras's `momentum` is the weight of the *running* value (0.99 by default);
the standard's is the weight of the new statistic: the layer is built with `momentum = 1 - m`.
Keras moves `moving_variance` toward the *biased* batch variance (the one it normalizes with); the
standard's running variance takes the unbiased one, σ²·n/(n - 1). The subclass keeps Keras's own
`call` (statistics, normalization, moving-average update) and adds the missing
(1 - momentum)·σ²/(n - 1) to `moving_variance` afterwards, n being the values per channel.
Normalization itself (biased variance, ε inside the root) is Keras's and the standard's.
The layer follows its input's layout: `axis` is the channel axis where the input has it.
"""

from __future__ import annotations

import keras
from keras import ops

from lockstep.adapters.tensorflow.layers._base import Layout, Slot, Slots
from lockstep.spec.base import Shape
from lockstep.spec.layers import BatchNorm

LAYOUT: Layout = "any"


class StandardBatchNorm(keras.layers.BatchNormalization):
    """BatchNormalization whose moving variance tracks the unbiased batch variance."""

    def _moments(self, inputs, mask):
        mean, variance = super()._moments(inputs, mask)
        object.__setattr__(self, "_batch_variance", variance)  # a tensor of this trace, not layer state
        return mean, variance

    def call(self, inputs, training=None, mask=None):
        outputs = super().call(inputs, training=training, mask=mask)
        if training and self.trainable:
            variance = self._batch_variance
            count = ops.cast(ops.size(inputs) // inputs.shape[self.axis], variance.dtype)
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
