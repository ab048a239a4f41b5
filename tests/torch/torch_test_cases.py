"""Shared by the torch adapter's tests: recipes around a model, random states and inputs, the assertion.

The comparison rule is conformance/checks.py's (docs/spec/v1-semantics.md#tolerances):
float64 |a - r| <= 1e-10·|r| + 1e-12·s, s the largest magnitude of the quantity's kind;
float32 (one-shot comparisons from identical inputs, against the float64 reference) |a - r| <= 1e-4·|r| + 1e-5·s.
Training in float32 is never compared free-running: `judged_checks` judges each step re-synchronized
(conformance/resync.py), as `lockstep compare` does.
"""

from __future__ import annotations

import numpy as np

from lockstep.adapters.reference import ReferenceAdapter
from lockstep.adapters.torch import TorchAdapter
from lockstep.conformance.checks import Check, compare_dicts
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.graph import build_graph


def recipe(model_doc: dict, loss: dict | None = None, optimizer: dict | None = None, dtype: str = "float64",
           **extra) -> Recipe:
    return Recipe.model_validate({
        "apiVersion": "lockstep/v1", "kind": "Recipe", "metadata": {"name": "case"}, "model": model_doc,
        "seed": 0, "dtype": dtype,
        "data": {"source": {"type": "synthetic_regression", "num_samples": 8, "shape": [1]}, "batch_size": 4},
        "loss": loss or {"type": "mse"}, "optimizer": optimizer or {"type": "sgd", "learning_rate": 0.1},
        "training": {"steps": 3}, **extra})


def random_state(model: Model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters ~ N(0, 0.25), buffers positive (running variances must be)."""
    graph = build_graph(model)
    out = {k: rng.normal(size=s.shape) * 0.5 for k, s in graph.parameters().items()}
    out.update({k: np.abs(rng.normal(size=s.shape)) + 0.5 for k, s in graph.buffers().items()})
    return out


def random_input(model: Model, rng: np.random.Generator, n: int = 4) -> np.ndarray:
    graph = build_graph(model)
    (name, shape), = graph.input_shapes.items()
    if graph.input_dtypes[name] == "int64":
        dim = min(nd.layer.input_dim for nd in graph.nodes if nd.type == "embedding")
        return rng.integers(0, dim, size=(n, *shape))
    return rng.normal(size=(n, *shape))


def sessions(model: Model, r: Recipe, dtype: str = "float64", device: str = "cpu"):
    ref = ReferenceAdapter().build(model, dtype="float64", recipe=r)
    tch = TorchAdapter().build(model, dtype=dtype, device=device, recipe=r)
    return ref, tch


def state_checks(prefix: str, actual: dict[str, dict[str, np.ndarray]], reference: dict[str, dict[str, np.ndarray]],
                 dtype: str) -> list[Check]:
    """Optimizer state compared per state name across all parameters (the kind whose scale s applies): a
    parameter whose gradient is mathematically 0 (a bias before batch norm) has round-off-sized state."""
    assert set(actual) == set(reference), (sorted(actual), sorted(reference))
    names = {n for st in reference.values() for n in st}
    checks = []
    for n in sorted(names):
        ref = {p: st[n] for p, st in reference.items() if n in st}
        got = {p: st[n] for p, st in actual.items() if n in st}
        checks += compare_dicts(f"{prefix} {n} of", got, ref, dtype)
    return checks


def assert_checks(checks: list[Check]) -> None:
    bad = [c for c in checks if not c.ok]
    assert not bad, "; ".join(f"{c.quantity}: error {c.error:.3g} > tolerance {c.tolerance:.3g}" for c in bad)


def worst_ratio(checks: list[Check]) -> float:
    """The largest error/tolerance ratio (1/margin) of a list of passing checks."""
    return max((c.ratio for c in checks), default=0.0)


def judged_checks(model: Model, r: Recipe, ref, actual, batches, dtype: str) -> list[Check]:
    """Each step of `actual` judged re-synchronized against the reference session `ref` (both already at the
    same starting state): the worst check of every step, and every failing one, labelled with the step."""
    from types import SimpleNamespace

    from lockstep.conformance.resync import Judge

    judge = Judge(SimpleNamespace(model=model, recipe=r), ref, dtype)  # type: ignore[arg-type]
    out = []
    for t, (x, y, *masks) in enumerate(batches, 1):
        rs = judge.step(t, x, y, masks[0] if masks else None)
        v = judge.judge(rs, actual)
        out += [Check(f"step {t} {c.quantity}", c.error, c.tolerance, c.ratio) for c in (v.failed or [v.worst])
                if c is not None]
    return out
