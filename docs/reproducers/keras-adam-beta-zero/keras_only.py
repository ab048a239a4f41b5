"""Keras 3 (TensorFlow backend): Adam with beta_2 = 0 loses a small g² to cancellation.

Standalone (no Lockstep): `python keras_only.py`. With beta_2 = 0, Adam's second moment after a step is that
step's g² (the standard's v ← β₂v + (1 − β₂)g², and torch's). Keras writes the update as v += (g² − v)(1 − β₂):
after a gradient of 1e3 (v = 1e6), a gradient of 1e-2 gives (1e-4 − 1e6) + 1e6, which is 0 in float32 instead of
1e-4, and about 1e-4·(1 − 5e-6) in float64. The step then divides m by ε alone. beta_1 = 0 does the same to m.
Expected: v = 1e-4 in both dtypes.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

for dtype in ("float32", "float64"):
    w = keras.Variable(np.array([1.0], dtype))
    adam = keras.optimizers.Adam(learning_rate=0.01, beta_1=0.0, beta_2=0.0, epsilon=1e-8)
    for g in (1e3, 1e-2):
        adam.apply([keras.ops.convert_to_tensor(np.array([g], dtype))], [w])
    v = float(keras.ops.convert_to_numpy(adam._velocities[0])[0])
    print(f"keras {keras.__version__} {dtype}: v = {v:.9g} after g = 1e3 then 1e-2 (the standard: 0.0001)")
