"""What float32 judging can see of an LSTM or a GRU (docs/conformance.md, "What a float32 comparison can see").

Found 2026-12-07: `lockstep compare examples/lstm-sequences/recipe.yaml` in float32 held at every one of 120 steps
against a torch adapter whose forget-gate bias gradient was halved (a backward-only bug: the loss and predictions
stay exact); embedding-gru likewise with its update gate's. The recurrent layers' backward magnitudes multiplied a
signal's magnitude G by its factor's error scale (G·A_c, G·m(f′)) where the error analysis
(docs/spec/v1-semantics.md § Tolerances: `|c|·G + |δ|·A_c`) has the signal's value |δ|; G/|δ| compounded through
the time steps, to gradient tolerances of 6e16 × |g| (LSTM, 16 steps) and 1e6 × |g| (GRU, 12 steps), and every
update of the layer passed, moved or not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import compare_with_torch, first_batch_bound_ratios, plant_torch_gradient_bug

ROOT = Path(__file__).resolve().parents[2]
LSTM = ROOT / "examples" / "lstm-sequences" / "recipe.yaml"
GRU = ROOT / "examples" / "embedding-gru" / "recipe.yaml"


@pytest.mark.parametrize(("recipe", "layer", "most", "largest"), [
    (LSTM, "lstm", 0.5, 5.0),  # measured 0.13 weight_ih, 1.9 weight_hh, 0.18 bias (before: 6e16, 4e16, 6e16)
    (GRU, "gru", 0.5, 2.0),  # 0.070 weight_ih, 0.71 weight_hh, 0.061 both biases (before: 1e6, 2e6, 8e5, 1e6)
])
def test_recurrent_gradient_bounds_stay_near_the_gradients(recipe: Path, layer: str, most: float,
                                                           largest: float) -> None:
    """The first batch of lstm-sequences (16 steps, 12 units) and embedding-gru (12 steps): the float32 bound of
    each of the layer's gradients relative to the gradient, median over its elements. weight_hh's is the widest:
    Σ A_hᵀ G, h's forward magnitude by the parameter rule."""
    relative = first_batch_bound_ratios(recipe, f"{layer}.")
    assert all(v < largest for v in relative.values()), relative
    assert sorted(k for k, v in relative.items() if v >= most) == [f"{layer}.weight_hh"], relative


@pytest.mark.parametrize(("recipe", "bias", "gates"), [(LSTM, "lstm.bias", 4), (GRU, "gru.bias_ih", 3)])
def test_compare_sees_a_halved_gate_gradient_in_float32(recipe: Path, bias: str, gates: int,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """torch with the second gate's bias gradient halved before its optimizer steps (the LSTM's forget gate, the
    GRU's update gate): the forward is exact, so only the update can show it. It was judged agreement at every
    step (exit 0); now step 1 fails, on that bias (its optimizer state: ratio 32 and 13)."""
    pytest.importorskip("torch")

    def halve_second_gate(grad: object) -> None:
        units = grad.shape[0] // gates  # type: ignore[attr-defined]
        grad[units:2 * units] *= 0.5  # type: ignore[index]  # (i, f, g, o): f; (r, z, n): z

    plant_torch_gradient_bug(monkeypatch, bias, halve_second_gate)
    code, out = compare_with_torch(recipe, capsys, steps=3)
    assert code == 1, out
    assert "torch DIVERGES from the reference at step 1" in out and f"of {bias}" in out, out
