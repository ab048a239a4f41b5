"""multi_head_attention -> `SelfAttention`, a keras.layers.MultiHeadAttention subclass.

Keras's math is the standard's (per-head scaled dot product, heads over contiguous E/H columns, no
attention dropout, causal masking of j > i by `use_causal_mask`). The subclass only fixes the call to
self-attention, `attn(x, x)`, and, in float64, the scale: Keras multiplies by `tf.cast(1/sqrt(d))` of a
Python float, which passes through float32 (a 1e-8 relative error for d = 2), so the subclass scales
the query by the exact float64 constant and lets Keras scale by 1.

Causal attention in float64 is computed here (scores, the standard's −∞ mask, softmax): Keras's TensorFlow
`dot_product_attention` masks with a float32-range constant even in float64 (`_causal_float64`).

Keras keeps each projection as an EinsumDense: query/key/value kernels `[E, heads, E/heads]` and
biases `[heads, E/heads]`, the output kernel `[heads, E/heads, E]`; those are row-major reshapes of the
canonical `[E, E]` / `[E]`.

Keras 3's TensorFlow `ops.add` turns `x + bias` into `tf.nn.bias_add` whenever the bias squeezes to one
axis, and guesses channels-first when that axis matches `x.shape[1]`: with a head size of 1 and as many
heads as time steps, the `[heads, 1]` projection bias is then added along time (keras-team/keras#20386
introduced the shortcut). `_BroadcastBias` adds the projection biases by plain broadcasting instead.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lockstep.adapters.tensorflow.layers._base import PLACEHOLDER, Layout, Slot, Slots
from lockstep.reference.layers.multi_head_attention import rotary_tables
from lockstep.spec.base import Shape
from lockstep.spec.layers import MultiHeadAttention

LAYOUT: Layout = "channels_first"  # [T, E] sequences

PROJECTIONS = {"query": "_query_dense", "key": "_key_dense", "value": "_value_dense", "output": "_output_dense"}


class _BroadcastBias(keras.layers.EinsumDense):
    """EinsumDense whose bias is added with numpy broadcasting (`tf.add`), never Keras's bias_add guess."""

    def call(self, inputs, training=None):
        x = keras.ops.einsum(self.equation, inputs, self.kernel)
        x = x if self.bias is None else tf.add(x, self.bias)
        return x if self.activation is None else self.activation(x)


class SelfAttention(keras.layers.MultiHeadAttention):
    """MultiHeadAttention called as self-attention, causal when asked, with an exact 1/sqrt(d) in float64."""

    def __init__(self, causal: bool, rotary: tuple[np.ndarray, np.ndarray, str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.causal = causal
        self.rotary = rotary  # (cos, sin) [T, d] float64 from the reference, and the pairing

    def build(self, input_shape) -> None:
        super().build(input_shape, input_shape)
        for attr in PROJECTIONS.values():
            dense = getattr(self, attr)
            if type(dense) is keras.layers.EinsumDense:
                dense.__class__ = _BroadcastBias

    def call(self, inputs, training=None):
        return super().call(inputs, inputs, use_causal_mask=self.causal, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def _turn(self, a):
        """(a, b) -> (−b, a) over the pairs of the last axis."""
        d = a.shape[-1]
        if self.rotary[2] == "half_split":
            return tf.concat([-a[..., d // 2:], a[..., : d // 2]], axis=-1)
        return tf.reshape(tf.stack([-a[..., 1::2], a[..., 0::2]], axis=-1), tf.shape(a))

    def _compute_attention(self, query, key, value, *args, **kwargs):
        if self.rotary is not None:  # Keras's seam between the projections and the scores: q, k [B, T, N, d]
            cos, sin = (tf.constant(t[:, None, :], dtype=query.dtype) for t in self.rotary[:2])
            query = query * cos + self._turn(query) * sin
            key = key * cos + self._turn(key) * sin
        if query.dtype != tf.float64:
            return super()._compute_attention(query, key, value, *args, **kwargs)
        # Keras casts the Python scale with tf.cast (through float32): scale the query exactly instead
        query = query * tf.constant(self._inverse_sqrt_key_dim, tf.float64)
        if self.causal:
            return self._causal_float64(query, key, value)
        scale, self._inverse_sqrt_key_dim = self._inverse_sqrt_key_dim, 1.0
        try:
            return super()._compute_attention(query, key, value, *args, **kwargs)
        finally:
            self._inverse_sqrt_key_dim = scale


    def _causal_float64(self, query, key, value):
        """Causal attention with the standard's −∞ mask, in float64. Keras's TensorFlow `dot_product_attention`
        (what `use_causal_mask` reaches) writes −0.7 × float32's max (≈ −2.4e38) into masked scores in float64
        too, so a row whose allowed scores all lie below that attends to the future (docs/conformance.md, bugs
        found; docs/reproducers/keras-causal-mask). q, k, v: [B, T, N, d], q already scaled."""
        scores = tf.einsum("btnd,bsnd->bnts", query, key)
        steps = tf.shape(scores)[-1]
        allowed = tf.linalg.band_part(tf.ones([steps, steps], tf.bool), -1, 0)  # j <= i
        scores = tf.where(allowed, scores, tf.constant(-np.inf, tf.float64))
        weights = tf.nn.softmax(scores, axis=-1)
        return tf.einsum("bnts,bsnd->btnd", weights, value), weights


def build(layer: MultiHeadAttention, shapes: list[Shape], dtype: str, channels_last: bool = False) -> SelfAttention:
    t, e = shapes[0]
    head = e // layer.num_heads
    rotary = None if layer.rotary is None else (*rotary_tables(layer.rotary, t, head), layer.rotary.pairing)
    return SelfAttention(layer.causal, rotary, num_heads=layer.num_heads, key_dim=head, value_dim=head,
                         use_bias=layer.use_bias, dropout=0.0, dtype=dtype, kernel_initializer=PLACEHOLDER,
                         bias_initializer=PLACEHOLDER)


def slots(m: SelfAttention) -> Slots:
    s: Slots = {}
    for name, attr in PROJECTIONS.items():
        dense = getattr(m, attr)
        e = dense.kernel.shape[0] if name != "output" else dense.kernel.shape[-1]
        s[f"{name}_weight"] = Slot.of(dense.kernel, lambda a, e=e: a.reshape(e, e))
        if m._use_bias:
            s[f"{name}_bias"] = Slot.of(dense.bias, lambda a, e=e: a.reshape(e))
    return s
