"""conv2d -> Conv (float64: Pad, a window Gather and Einsum); see _conv.py."""

from __future__ import annotations

from lockstep.adapters.onnxruntime.layers._conv import FLOAT64, OP, export

__all__ = ["FLOAT64", "OP", "export"]
