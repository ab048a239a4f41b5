"""The onnxruntime tests need lockstep-standard[onnx]; without it they skip (the project tests without it)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
