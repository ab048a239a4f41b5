"""ONNX Runtime (CPU): opening a float16 graph with a Transpose into a MatMul ends the process (SIGSEGV).

Standalone (no Lockstep): `python ort_only.py`. Two nodes in float16, Transpose(perm [1, 0, 2]) into a MatMul with
a constant, the shape every recurrent layer returning its sequence into a dense layer exports (time-major back to
batch-major). onnxruntime 1.32's CPU provider crashes while it creates the session at its default optimization
level (ORT_ENABLE_ALL); the NCHWc layout transformer is the one at fault: without it the graph opens and runs.
Each level runs in a process of its own, so the crash is reported rather than taking this script with it.
Expected: every line `ok`.
"""

import subprocess
import sys

CHILD = """
import sys
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), helper.make_node("MatMul", ["xt", "w"], ["y"])]
graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["T", "N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["N", "T", 3])],
                          [numpy_helper.from_array(np.ones((4, 3), np.float16), "w")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
options = ort.SessionOptions()
options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, sys.argv[1])
session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"],
                               disabled_optimizers=sys.argv[2:])
session.run(None, {"x": np.ones((3, 2, 4), np.float16)})
"""

import onnxruntime as ort  # noqa: E402 - the version only; the sessions open in the children

print(f"onnxruntime {ort.__version__}")
for level, disabled in (("ORT_ENABLE_EXTENDED", []), ("ORT_ENABLE_ALL", []), ("ORT_ENABLE_ALL", ["NchwcTransformer"])):
    code = subprocess.run([sys.executable, "-c", CHILD, level, *disabled], capture_output=True).returncode
    said = "ok" if code == 0 else f"the process ended with {'SIGSEGV' if code == -11 else f'exit {code}'}"
    print(f"{level}{' without ' + ', '.join(disabled) if disabled else ''}: {said}")
