"""ONNX Runtime (CPU): float32 Sigmoid is accurate to about 6e-8 absolute, not to a few ulps relative.

Standalone (no Lockstep): `python ort_only.py`. One Sigmoid node in float32, evaluated by onnxruntime's CPU
provider at negative inputs, where σ(x) is small. Each line shows onnxruntime's value, σ(x) itself rounded to
float32, and the relative error. A function within 2 ulp would err by about 1e-7 relative at every x; onnxruntime
1.32 errs by 1.5e-3 at x = -13.2 (the case Lockstep's certification shrank to) and by 47 % at x = -16: below about
x = -15 its values are whole multiples of 2**-25 (3.0e-8), and every x at or below -18 gives 0, where σ(x) is
still a normal float32 number (σ(-20) = 2.06e-9).
"""

import math

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

x = np.array([-1.0, -5.0, -10.0, -13.2, -16.0, -17.7, -20.0], dtype=np.float32)
graph = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"])], "sigmoid",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
(y,) = session.run(None, {"x": x})
print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}")
for xi, yi in zip(x, y, strict=True):
    exact = 1.0 / (1.0 + math.exp(-float(xi)))
    print(f"x = {xi:6.1f}  onnxruntime {yi:.6e}  sigma(x) in float32 {np.float32(exact):.6e}  "
          f"relative error {abs(float(yi) - exact) / exact:.1e}")

# Tanh, the same way: below -1 (beyond its range) near x = -9
graph = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"])], "tanh",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
(t,) = session.run(None, {"x": np.array([-8.999], dtype=np.float32)})
print(f"tanh(-8.999): onnxruntime {t[0]:.8f} (a tanh is never below -1)")
