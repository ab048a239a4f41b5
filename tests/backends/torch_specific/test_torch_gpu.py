"""CUDA: the same agreement as on the CPU (float64 to 1e-10; float32 steps judged re-synchronized), TF32 off.

Marked `gpu`; skipped where torch sees no CUDA device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import find

pytest.importorskip("torch")
import torch
from backend_support import assert_checks, judged_checks, random_input, random_state, sessions, state_checks

from lockstep.adapters.torch import TorchAdapter
from lockstep.adapters.torch.session import tf32_allowed
from lockstep.conformance import strategies as cs
from lockstep.conformance.checks import compare, compare_dicts
from lockstep.runner import masks_for, prepare_run
from lockstep.spec.documents import Model

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*/recipe.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_examples_on_cuda(path: Path, dtype: str) -> None:
    steps = 10
    prep = prepare_run(path, steps=steps)
    r = prep.recipe.model_copy(update={"dtype": dtype})
    ref, gpu = sessions(prep.model, r, dtype, device="cuda")
    assert tf32_allowed() == (False, False)
    ref.set_parameters(prep.initial)
    gpu.set_parameters(prep.initial)
    if dtype == "float32":  # never free-running: each step from the reference's state
        batches = [(*prep.data.batch(step)[1:], masks_for(prep, step, len(prep.data.batch(step)[1])))
                   for step in range(steps)]
        assert_checks(judged_checks(prep.model, r, ref, gpu, batches, dtype))
        return
    checks = []
    for step in range(steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        rr, rg = ref.train_step(x, y, masks=masks), gpu.train_step(x, y, masks=masks)
        checks.append(compare(f"step {step + 1} loss", rg.loss, rr.loss, dtype))
        checks += compare_dicts(f"step {step + 1}", gpu.get_parameters(), ref.get_parameters(), dtype)
        checks += state_checks(f"step {step + 1} state", gpu.get_optimizer_state()[1], ref.get_optimizer_state()[1],
                               dtype)
    x_eval = prep.data.x_eval[:256]
    checks.append(compare("eval output", gpu.forward(x_eval), ref.forward(x_eval), dtype))
    assert_checks(checks)


@pytest.mark.parametrize("construct", ["conv2d", "max_pool2d", "avg_pool2d", "lstm", "gru", "multi_head_attention",
                                       "batch_norm", "embedding"])
def test_layers_on_cuda_float64(construct: str) -> None:
    doc = find(cs.layer_model(construct), lambda d: True)
    model = Model.model_validate(doc)
    rng = np.random.default_rng(0)
    cpu = TorchAdapter().build(model, dtype="float64")
    gpu = TorchAdapter().build(model, dtype="float64", device="cuda:0")
    state = random_state(model, rng)
    cpu.set_parameters(state)
    gpu.set_parameters(state)
    x = random_input(model, rng)
    assert_checks([compare("output", gpu.forward(x), cpu.forward(x))])


def test_cuda_index_check_and_devices() -> None:
    adapter = TorchAdapter()
    assert "cuda:0" in adapter.devices()
    assert adapter.support("lstm", device="cuda:0").supported
    doc = cs.model_doc("m", [3], [{"type": "embedding", "input_dim": 4, "output_dim": 2}], input_dtype="int64")
    s = adapter.build(Model.model_validate(doc), dtype="float32", device="cuda")
    with pytest.raises(IndexError):
        s.forward(np.array([[0, 1, 4]]))  # checked on the host: a device assert would poison the context
    s.forward(np.array([[0, 1, 3]]))
