"""torch.onnx.export (TorchScript, dynamo=False) drops AvgPool2d's divisor_override without a word.

A window *sum* (divisor_override=1) is exported as ONNX AveragePool, a window mean: every value comes out divided
by the window's size (4 for 2x2). torch 2.0 refused the export ("Unsupported: ONNX export of operator avg_pool2d,
divisor_override", pytorch/pytorch#105349); torch 2.13 exports it, wrong. No Lockstep code: torch, onnxruntime.
"""

import io
import warnings

import numpy as np
import onnxruntime as ort
import torch

pool = torch.nn.AvgPool2d(kernel_size=2, stride=1, divisor_override=1)  # the sum of each 2x2 window
x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
buffer = io.BytesIO()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # TorchScript's deprecation notice
    torch.onnx.export(pool, (x,), buffer, dynamo=False, opset_version=17)
session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
exported = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
eager = pool(x).numpy()
print(f"torch {torch.__version__}: eager window sums {eager[0, 0, 0, :3].tolist()}, "
      f"exported {exported[0, 0, 0, :3].tolist()} (ratio {float(np.max(eager / exported)):g})")
