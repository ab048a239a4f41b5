"""The suite hands an adapter copies: one that writes into the arrays it is given (parameters, a state, a batch)
cannot change what the reference computes or what the next check starts from. Found by an adversarial sweep: an
adapter that zeroed the parameters `set_parameters` received made level 2 run both sides at zero weights, where
its wrong gradient (g + 0.1·w) vanished, and it was CERTIFIED."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import lockstep
from lockstep.adapters.base import TrainingState
from lockstep.adapters.reference import ReferenceAdapter, ReferenceSession
from lockstep.conformance.levels._pair import handed


class _Scribbling(ReferenceSession):
    """Writes zeros into every array it is given, after using it (a buggy in-place normalisation)."""

    def set_parameters(self, params):
        super().set_parameters(params)
        _zero(params)

    def set_state(self, state):
        super().set_state(state)
        _zero(state.parameters)

    def loss_and_gradients(self, x, y, *, masks=None):
        loss, grads = super().loss_and_gradients(x, y, masks=masks)
        _zero(x)
        return loss, {k: g + 0.1 * self.params[k] if k in self.params else g for k, g in grads.items()}  # the bug

    def train_step(self, x, y, *, masks=None):
        result = super().train_step(x, y, masks=masks)
        _zero(x)
        return result


def _zero(values) -> None:
    for v in (values.values() if isinstance(values, dict) else [values]):
        if isinstance(v, np.ndarray) and v.flags.writeable:
            v[...] = 0.0


class ScribblingAdapter(ReferenceAdapter):
    name = "scribbling"

    def build(self, model, *, dtype, device="cpu", recipe=None):
        super().build(model, dtype=dtype, device=device, recipe=recipe)
        return _Scribbling(model, recipe, dtype)


def test_an_adapter_writing_into_its_inputs_cannot_hide_its_bug(tmp_path: Path) -> None:
    cert = lockstep.certify(ScribblingAdapter(), constructs="dense", levels=[1, 2], dtypes=["float64"], examples=2,
                            jobs=1, report=tmp_path / "r")
    assert not cert.certified, "a wrong gradient passed because the adapter zeroed the suite's parameters"
    failed = [c for c in cert.checks if c.outcome != "pass"]
    assert failed and any("gradients" in c.name for c in failed), [(c.name, c.outcome) for c in cert.checks]


def test_a_scribbling_but_correct_adapter_still_certifies(tmp_path: Path) -> None:
    """Without the gradient bug, writing into its own copies harms nothing: levels 1–4 on one construct and an
    example recipe's first steps (the re-synchronized judge hands it each step's state)."""

    class Correct(_Scribbling):
        def loss_and_gradients(self, x, y, *, masks=None):
            loss, grads = ReferenceSession.loss_and_gradients(self, x, y, masks=masks)
            _zero(x)
            return loss, grads

    class CorrectAdapter(ReferenceAdapter):
        name = "scribbling-correct"

        def build(self, model, *, dtype, device="cpu", recipe=None):
            super().build(model, dtype=dtype, device=device, recipe=recipe)
            return Correct(model, recipe, dtype)

    cert = lockstep.certify(CorrectAdapter(), constructs="dense,sgd,digits-mlp", dtypes=["float64"], examples=2,
                            jobs=1, recipe_steps=3, report=tmp_path / "r")
    assert cert.certified, [(c.name, c.outcome, c.message) for c in cert.checks if c.outcome != "pass"]


@pytest.mark.parametrize("value", [
    np.arange(3.0),
    {"a": np.ones(2), "b": {"c": np.zeros(1)}},
    TrainingState(2, {"w": np.ones(2)}, {"w": {"m": np.ones(2)}}),
])
def test_handed_is_a_deep_copy(value) -> None:
    copy = handed(value)
    _zero_all(copy)
    assert _total(value) != 0.0, "the original changed through its copy"


def _zero_all(value) -> None:
    if isinstance(value, np.ndarray):
        value[...] = 0.0
    elif isinstance(value, dict):
        for v in value.values():
            _zero_all(v)
    elif isinstance(value, TrainingState):
        _zero_all(value.parameters)
        _zero_all(value.optimizer)


def _total(value) -> float:
    if isinstance(value, np.ndarray):
        return float(np.abs(value).sum())
    if isinstance(value, dict):
        return sum(_total(v) for v in value.values())
    return _total(value.parameters) + _total(value.optimizer)


def test_failure_messages_say_what_was_wrong() -> None:
    """A failed comparison names the shape, the non-finite value, a missing or an unknown name (all four read
    "non-finite or wrongly shaped" before)."""
    from lockstep.conformance.checks import check, check_many, compare_dicts
    from lockstep.reference.tolerances import Tolerance

    rule = Tolerance(1e-10, 1e-12)
    assert check("output", np.zeros(3), np.zeros((2, 3)), rule).describe() == \
        "output: shape [3], the reference's [2, 3]"
    bad = np.array([[1.0, np.nan], [0.0, 2.0]])
    ref = np.array([[1.0, 0.5], [0.0, 2.0]])
    assert check("gradient w", bad, ref, rule).describe() == \
        "gradient w: non-finite (nan at index (0, 1); the reference's is 0.5)"
    assert check_many([("gradient w", bad, ref, rule)]) == [check("gradient w", bad, ref, rule)]
    assert compare_dicts("gradient", {}, {"w": ref})[0].describe() == "gradient w: missing"


def test_an_unknown_gradient_name_fails(tmp_path: Path) -> None:
    class Extra(ReferenceSession):
        def loss_and_gradients(self, x, y, *, masks=None):
            loss, grads = super().loss_and_gradients(x, y, masks=masks)
            return loss, {**grads, "bogus.weight": np.zeros(3)}

    class ExtraAdapter(ReferenceAdapter):
        name = "extra-gradient"

        def build(self, model, *, dtype, device="cpu", recipe=None):
            super().build(model, dtype=dtype, device=device, recipe=recipe)
            return Extra(model, recipe, dtype)

    cert = lockstep.certify(ExtraAdapter(), constructs="dense", levels=[2], dtypes=["float64"], examples=1, jobs=1,
                            report=tmp_path / "r")
    assert not cert.certified
    assert any("bogus.weight: not a parameter of the model" in c.message for c in cert.checks), \
        [c.message for c in cert.checks]
