"""dropout -> `StandardDropout`, a keras.layers.Dropout subclass that applies the standard's keep-mask.

TensorFlow's RNG cannot reproduce the standard's stream (PCG64 per layer and step, `uniform >= rate`),
so in training the session hands each dropout layer that step's keep-mask (`keep=`); the layer
multiplies by `keep / (1 - rate)`, as keras.layers.Dropout does with its own Bernoulli noise and in
the reference's order of operations. Eval mode is the identity. The layer follows its input's layout:
a channels-last input gets the mask transposed the same way.
"""

from __future__ import annotations

import keras
from keras import ops

from lockstep.adapters.tensorflow.layers._base import Layout, to_channels_last
from lockstep.spec.base import Shape
from lockstep.spec.layers import Dropout

LAYOUT: Layout = "any"


class StandardDropout(keras.layers.Dropout):
    """keras.layers.Dropout whose noise is the standard's keep-mask (canonical layout, per call)."""

    def __init__(self, rate: float, channels_last: bool, **kwargs) -> None:
        super().__init__(rate, **kwargs)
        self.channels_last = channels_last

    def call(self, inputs, training=False, keep=None):
        if not training or self.rate == 0.0:
            return inputs
        if keep is None:
            raise ValueError(f"dropout `{self.name}` in training needs the standard's keep-mask (masks=...)")
        if self.channels_last:
            keep = ops.transpose(keep, to_channels_last(len(keep.shape)))
        return inputs * (ops.cast(keep, inputs.dtype) / (1.0 - self.rate))


def build(layer: Dropout, shapes: list[Shape], dtype: str, channels_last: bool = False) -> StandardDropout:
    return StandardDropout(layer.rate, channels_last and len(shapes[0]) >= 2, dtype=dtype)
