"""The torch tests run tiny tensors: one intra-op thread is fastest, and avoids OpenMP spin-waiting when the
machine is oversubscribed (a [5, 4] batch norm took 20 ms with 2 threads on a loaded 2-core runner)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    try:
        import torch
        torch.set_num_threads  # noqa: B018 - a namespace package `torch` (this folder) has no such attribute
    except (ImportError, AttributeError):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
