"""What the strategies must reach for a check to compare what its name says (docs/conformance.md, "Generation"):
a gradient through every layer's backward, and SGD's Nesterov with dampening. Each gap here once let a mutant be
certified (conformance/mutants: tanh_gradient_from_input, layer_norm_statistics_detached,
sgd_nesterov_dampened_gradient)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockstep.conformance import strategies as cs
from lockstep.spec.documents import Model
from lockstep.spec.graph import build_graph

SETTINGS = settings(max_examples=40, database=None, derandomize=True, deadline=None,
                    suppress_health_check=list(HealthCheck))


def _layers(doc: dict[str, Any]) -> list[str]:
    return [layer["type"] for layer in doc.get("layers", [])]


@pytest.mark.parametrize("construct", [c for c in cs.LAYERS if c not in cs.MERGE_LAYERS])
def test_a_layer_is_checked_with_a_parameter_upstream(construct: str) -> None:
    """Level 2 compares parameter gradients: in some plain case of every layer a parameter sits in front of it
    (a dense probe), so its gradient passes through the layer's input gradient; a parameter-free layer always has
    one. (`embedding` takes indices: nothing can stand in front of it, and its own table is its parameter.)"""
    probed: list[bool] = []

    @SETTINGS
    @given(cs.layer_model(construct))
    def draw(doc: dict[str, Any]) -> None:
        layers = _layers(doc)
        graph = build_graph(Model.model_validate(doc))
        assert not graph.problems, graph.problems
        own = [k for k in graph.parameters() if not k.startswith("probe.")]
        probe = len(layers) > 1 and layers[0] == "dense" and doc["layers"][0].get("name") == "probe"
        if not own and construct != "embedding":
            assert probe, f"{construct}: a parameter-free case without a probe: {doc}"
        probed.append(probe)

    draw()
    if construct == "embedding":
        assert not any(probed)
    else:
        assert any(probed), f"{construct}: no case of 40 had a parameter in front of the layer"


def test_sgd_draws_nesterov_with_dampening() -> None:
    seen: set[tuple[bool, bool]] = set()

    @SETTINGS
    @given(cs.optimizer_problem("sgd"), st.just(None))
    def draw(case: Any, _unused: None) -> None:
        opt = case.recipe["optimizer"]
        if opt.get("momentum", 0) > 0:
            seen.add((bool(opt.get("nesterov")), opt.get("dampening", 0) > 0))

    draw()
    assert (True, True) in seen, seen
