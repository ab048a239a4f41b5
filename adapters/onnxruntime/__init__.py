"""The ONNX Runtime adapter and the spec's own ONNX exporter (export.py, layers/): deployment, predictions only."""

from lockstep.adapters.onnxruntime.adapter import OnnxRuntimeAdapter

__all__ = ["OnnxRuntimeAdapter"]
