"""The onnxruntime tests need lockstep[onnx]; without it they skip (the project builds and tests without it)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
