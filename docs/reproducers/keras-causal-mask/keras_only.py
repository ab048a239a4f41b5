"""Keras 3 (TensorFlow backend): causal dot-product attention leaks the future in float64.

Standalone (no Lockstep): `python keras_only.py`. Query 0 may attend only to key 0, whose score is -4e38, a
float64 value below float32's range; the masked score (to key 1) should be -inf. Keras writes -0.7 × float32's
max (about -2.4e38) into masked scores in float64 too, so softmax puts all the weight on key 1: query 0 reads
the future value. Expected output for query 0: 1.0 (value 0); Keras 3.15 gives 2.0 (value 1).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

q = np.array([[[[2e19]], [[0.0]]]])  # [batch 1, T 2, heads 1, d 1]
k = np.array([[[[-2e19]], [[1.0]]]])
v = np.array([[[[1.0]], [[2.0]]]])
out = keras.ops.dot_product_attention(q, k, v, scale=1.0, is_causal=True)
print("keras", keras.__version__, "query 0 reads", float(np.asarray(out)[0, 0, 0, 0]), "(the standard: 1.0)")
