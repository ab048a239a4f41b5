"""What float32 judging can see of an LSTM (docs/conformance.md, "What a float32 comparison can see").

Found 2026-12-07: `lockstep compare examples/lstm-sequences/recipe.yaml` in float32 held at every one of 120 steps
against a torch adapter whose forget-gate bias gradient was halved (a backward-only bug: the loss and predictions
stay exact). The LSTM's backward magnitudes multiplied a signal's magnitude G by its factor's error scale (G·A_c,
G·m(f′)) where the error analysis (docs/spec/v1-semantics.md § Tolerances: `|c|·G + |δ|·A_c`) has the signal's
value |δ|; G/|δ| compounded through the 16 time steps, to gradient tolerances 1e16 × |g|, and every update of
the LSTM passed, moved or not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lockstep.runner import load_recipe, prepare_loaded

ROOT = Path(__file__).resolve().parents[2]
LSTM = ROOT / "examples" / "lstm-sequences" / "recipe.yaml"


def _first_batch() -> tuple[object, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    recipe, model, base = load_recipe(LSTM)
    prep = prepare_loaded(recipe, model, base, 1)
    _, x, y = prep.data.batch(0)
    return prep, prep.initial, x, y


def test_lstm_gradient_bounds_stay_near_the_gradients_over_sixteen_steps() -> None:
    """lstm-sequences' first batch (16 steps, 12 units): the float32 bound of each LSTM gradient, relative to the
    gradient, median over its elements (measured 0.13 weight_ih, 1.9 weight_hh, 0.18 bias; before: 6e16, 4e16,
    6e16)."""
    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.reference.error_bounds import model_bounds

    prep, params, x, y = _first_batch()
    session = ReferenceAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)
    session.set_parameters(params)
    _, grads = session.loss_and_gradients(x, y)
    bounds = model_bounds(prep.model, params, x, training=True, loss=prep.recipe.loss, y=y, dtype="float32")
    relative = {k: float(np.median(bounds.gradients[k].tolerance("float32").allowed(g) / np.abs(g)))
                for k, g in grads.items() if k.startswith("lstm.")}
    assert relative["lstm.weight_ih"] < 0.5 and relative["lstm.bias"] < 0.5, relative
    assert relative["lstm.weight_hh"] < 5, relative  # Σ A_hᵀ G_z: h's forward magnitude, the parameter rule


def test_compare_sees_a_halved_lstm_gate_gradient_in_float32(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """torch with the forget gate's bias gradient halved before its optimizer steps: the forward is exact, so only
    the update can show it. It was judged agreement at every step (exit 0); now step 1 fails, on the LSTM."""
    pytest.importorskip("torch")
    from lockstep.adapters.torch.session import TorchSession
    from lockstep.cli import main

    real = TorchSession._loss_backward

    def halved(self: TorchSession, *args: object, **kwargs: object) -> object:
        loss = real(self, *args, **kwargs)
        grad = self.slots["lstm.bias"].tensor.grad
        if grad is not None:
            units = grad.shape[0] // 4
            grad[units:2 * units] *= 0.5  # (i, f, g, o): f
        return loss

    monkeypatch.setattr(TorchSession, "_loss_backward", halved)
    code = main(["compare", str(LSTM), "--backends", "reference,torch", "--steps", "3", "--quiet", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "torch DIVERGES from the reference at step 1" in out and "of lstm.bias" in out, out
