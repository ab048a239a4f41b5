"""The norm of four float32 numbers of about 1e20 is about 2.6e20, a float32 number; torch's and TensorFlow's
global-norm functions return inf for it, because they sum the squares (about 7e40) in float32.

    python docs/reproducers/overflowing-norm/frameworks_only.py
"""

import math

values = [1e20, 2e20, -1e20, 1.5e20]
print(f"true norm {math.sqrt(sum(v * v for v in values)):.4g} (float32 holds up to 3.403e+38)")
try:
    import torch

    g = [torch.tensor(values, dtype=torch.float32)]
    print(f"torch {torch.__version__} get_total_norm: {torch.nn.utils.get_total_norm(g).item()}, "
          f"linalg.vector_norm: {torch.linalg.vector_norm(g[0]).item()}")
except ImportError:
    print("torch not installed")
try:
    import tensorflow as tf

    t = [tf.constant(values, dtype=tf.float32)]
    print(f"tensorflow {tf.__version__} linalg.global_norm: {float(tf.linalg.global_norm(t))}, "
          f"norm: {float(tf.norm(t[0]))}")
except ImportError:
    print("tensorflow not installed")
