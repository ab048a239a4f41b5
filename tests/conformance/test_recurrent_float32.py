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


_LONG = """apiVersion: lockstep/v1
kind: Recipe
metadata: {{name: long-{layer}}}
model:
  apiVersion: lockstep/v1
  kind: Model
  metadata: {{name: m}}
  inputs: [{{name: s, shape: [{length}, {features}]}}]
  layers:
    - {{type: {layer}, name: rnn, units: {units}, return_sequences: {sequences}}}
    - {{type: flatten}}
    - {{type: dense, name: logits, units: 3}}
seed: {seed}
dtype: float32
data:
  source: {{type: synthetic_sequences, num_samples: 48, length: {length}, features: {features}, num_classes: 3}}
  batch_size: 16
loss: {{type: sparse_categorical_crossentropy, from_logits: true}}
optimizer: {{type: adam, learning_rate: 0.01}}
training: {{steps: 4}}
"""


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
@pytest.mark.parametrize(("layer", "length", "units", "features", "sequences", "seed"), [
    ("lstm", 32, 16, 3, "false", 1), ("lstm", 24, 9, 1, "true", 2), ("gru", 32, 16, 3, "false", 3),
    ("gru", 17, 8, 2, "true", 4)])
def test_long_recurrent_runs_of_correct_adapters_hold_in_float32(
        backend: str, layer: str, length: int, units: int, features: int, sequences: str, seed: int, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No false alarm on recurrent runs longer than the suite's generated cases (at most 5 steps and 4 units): correct
    adapters, judged step by step from the reference's state in float32, hold at 17-32 steps and 8-16 units since
    the bounds follow the signals' values through time. (A guard against false alarms only: scaling the LSTM's
    backward bound by 1e-6 still passes here, the other terms of the tolerance covering these errors.)"""
    pytest.importorskip(backend)
    from lockstep.cli import main

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(_LONG.format(layer=layer, length=length, units=units, features=features, sequences=sequences,
                                   seed=seed))
    code = main(["compare", str(recipe), "--backends", f"reference,{backend}", "--quiet", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
