"""Keras 3 (TensorFlow backend): every eager call of a grouped convolution is traced and compiled by XLA anew.

Standalone (no Lockstep): `python keras_only.py`. TensorFlow's CPU kernels do not run grouped convolutions, so
Keras's `backend.tensorflow.nn.conv` runs them through a `tf.function(jit_compile=True)`; that function is
defined inside `conv`, a new one at each call, so nothing is cached: the same layer, called again on the same
input, is traced and compiled again (TensorFlow itself warns of the retracing). Prints the median time of an
eager call of one layer, forward alone and forward with its gradients, with groups=1 and groups=2, then of the
groups=2 layer called through one tf.function(jit_compile=True) of our own, compiled once: the same
convolution under XLA, without the recompilation.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import logging
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

tf.get_logger().setLevel(logging.ERROR)  # TensorFlow's own retracing warning, once per call


def median_ms(call) -> float:
    call()  # the first call: the layer is built, a function traced
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def with_gradients(fn, layer, x):
    def call():
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(fn(x))
        return tape.gradient(y, layer.trainable_variables)
    return call


x = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 8, 4)), dtype="float32")
print(f"keras {keras.__version__}, tensorflow {tf.__version__}; median of 5 calls of one layer on one input:")
layers = {groups: keras.layers.Conv2D(4, 3, groups=groups) for groups in (1, 2)}
for groups, layer in layers.items():
    print(f"  Conv2D(groups={groups}) eager: forward {median_ms(lambda layer=layer: layer(x)):.1f} ms, with "
          f"gradients {median_ms(with_gradients(layer, layer, x)):.1f} ms")
compiled = tf.function(layers[2], jit_compile=True)
print(f"  Conv2D(groups=2) through one tf.function(jit_compile=True): forward {median_ms(lambda: compiled(x)):.1f} "
      f"ms, with gradients {median_ms(with_gradients(compiled, layers[2], x)):.1f} ms")
