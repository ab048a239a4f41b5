"""global_avg_pool -> keras.layers.GlobalAveragePooling1D/2D/3D: [N, C, *S] -> [N, C].

It follows its input's layout (`data_format` channels-last after a convolution, channels-first
otherwise). Per-sample ranks above 4 have no Keras layer: `SpatialMean`, keras.ops.mean over the
spatial axes."""

from __future__ import annotations

import keras
from keras import ops

from lockstep.adapters.tensorflow.layers._base import Layout
from lockstep.spec.base import Shape
from lockstep.spec.layers import GlobalAvgPool

LAYOUT: Layout = "any"

POOLS = {2: keras.layers.GlobalAveragePooling1D, 3: keras.layers.GlobalAveragePooling2D,
         4: keras.layers.GlobalAveragePooling3D}


class SpatialMean(keras.layers.Layer):
    """Mean over every spatial axis, for ranks Keras has no global pooling layer for."""

    def __init__(self, axes: list[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.axes = axes

    def call(self, inputs):
        return ops.mean(inputs, axis=self.axes)


def build(layer: GlobalAvgPool, shapes: list[Shape], dtype: str, channels_last: bool = False) -> keras.layers.Layer:
    rank = len(shapes[0])
    if rank in POOLS:
        return POOLS[rank](data_format="channels_last" if channels_last else "channels_first", dtype=dtype)
    return SpatialMean(list(range(1, rank)) if channels_last else list(range(2, rank + 1)), dtype=dtype)
