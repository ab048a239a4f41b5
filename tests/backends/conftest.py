"""The backend tests: `test_agreement.py` runs every agreement test on each framework (the `backend` fixture);
`<framework>_specific/` holds what only one of them has (its regressions, its GPU, its CLI paths, its engine).

TensorFlow reads TF_ENABLE_ONEDNN_OPTS / TF_CPP_MIN_LOG_LEVEL once, at its first import: importing the adapter
package (which does not import TensorFlow) sets the adapter's defaults before any test imports TensorFlow
(docs/adapters/tensorflow.md, "Environment"). No folder here is named like a framework (`tests/torch` would
shadow the `torch` package when pytest puts `tests/` on sys.path)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lockstep.adapters.tensorflow  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))  # backend_support, for every module below this folder

BACKENDS = ("torch", "tensorflow")


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The framework under test, skipped cleanly where it is not installed. torch runs one intra-op thread: the
    tests' tensors are tiny, and OpenMP spin-waiting hurts on a busy machine (tests/backends/torch_specific)."""
    name = request.param
    pytest.importorskip(name)
    if name != "torch":
        yield name
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield name
    torch.set_num_threads(before)
