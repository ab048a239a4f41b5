"""Keras 3 (TensorFlow backend): categorical cross-entropy from logits differentiates a different loss than it
computes when a target row does not sum to 1.

Standalone (no Lockstep): `python keras_only.py`. `keras.losses.CategoricalCrossentropy(from_logits=True)` (over
`tf.nn.softmax_cross_entropy_with_logits`) computes L = -Σ_c t_c log softmax(y)_c for any targets, but its
gradient is softmax(y) - t, which is dL/dy only where Σ_c t_c = 1; the true gradient is softmax(y)·Σ_c t_c - t.
TensorFlow's documentation asks for rows that are probability distributions and does not check; Keras's loss
takes soft targets and says nothing. An all-zero row (a padded position, a masked token) adds 0 to the loss and
softmax(y) to the gradient. Expected: the tape's gradient equals the finite difference of the loss it reports.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

y0 = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
targets = np.array([[0.0, 0.0, 0.0],   # an all-zero row: contributes 0 to the loss
                    [0.5, 0.7, 0.0]])  # a soft row summing to 1.2
loss = keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum", dtype="float64")
y = tf.Variable(y0)
with tf.GradientTape() as tape:
    value = loss(targets, y)
grad = tape.gradient(value, y).numpy()
h = 1e-6
numeric = np.zeros_like(y0)
for i in np.ndindex(*y0.shape):
    up, down = y0.copy(), y0.copy()
    up[i] += h
    down[i] -= h
    numeric[i] = (float(loss(targets, up)) - float(loss(targets, down))) / (2 * h)
p = np.exp(y0 - y0.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
print(f"keras {keras.__version__}, tensorflow {tf.__version__}: loss {float(value):.12g}")
print("tape gradient      ", np.round(grad, 6).tolist())
print("finite difference  ", np.round(numeric, 6).tolist())
print("softmax(y)·Σt - t  ", np.round(p * targets.sum(axis=1, keepdims=True) - targets, 6).tolist())
