"""The torch tests run tiny tensors: one intra-op thread is fastest, and avoids OpenMP spin-waiting when the
machine is oversubscribed (a [5, 4] batch norm took 20 ms with 2 threads on a loaded 2-core runner). The
agreement tests get the same from the `backend` fixture (tests/backends/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
