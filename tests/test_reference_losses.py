"""Reference losses: gradients against central finite differences (hypothesis, float64), known values
from the normative formulas, reductions over extra position axes, the stable and unclipped forms,
label smoothing, target shapes; and the evaluation metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from lockstep.reference import losses, metrics
from lockstep.spec.losses import Loss

LOSS = TypeAdapter(Loss)
H = 1e-6
CLASS_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "nll")


def make(**kw: object):
    return LOSS.validate_python(kw)


@st.composite
def loss_spec(draw, kind: str) -> dict:
    spec: dict = {"type": kind, "reduction": draw(st.sampled_from(["mean", "sum"]))}
    if kind == "huber":
        spec["delta"] = draw(st.sampled_from([0.3, 1.0, 2.5]))
    if kind in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"):
        spec["from_logits"] = draw(st.booleans())
        spec["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.5]))
    return spec


def case(kind: str, loss, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A prediction away from kinks and domain edges, and a target of the loss's kind."""
    c = shape[-1]
    if kind in ("mse", "mae", "huber"):
        y = rng.normal(size=shape) * 2
        # |d| at least 0.05 from 0 and from ±δ, so the kinks are farther than h
        d = rng.uniform(0.05, 3.0, size=shape) * rng.choice([-1, 1], size=shape)
        delta = getattr(loss, "delta", None)
        if delta is not None:
            d = np.where(np.abs(np.abs(d) - delta) < 0.05, d + 0.1 * np.sign(d), d)
        return y, y - d
    if kind == "binary_crossentropy":
        t = rng.integers(0, 2, size=shape).astype(float)
        y = rng.normal(size=shape) * 3 if loss.from_logits else rng.uniform(0.02, 0.98, size=shape)
        return y, t
    logits = rng.normal(size=shape) * 2
    raw = rng.uniform(0.2, 1.0, size=shape)  # probabilities ≥ 0.05: finite differences stay accurate
    probs = raw / raw.sum(-1, keepdims=True)
    idx = rng.integers(0, c, size=shape[:-1])
    if kind == "nll":
        return np.log(probs), idx
    y = logits if loss.from_logits else probs
    if kind == "sparse_categorical_crossentropy":
        return y, idx
    soft = rng.uniform(size=shape)
    return y, soft / soft.sum(-1, keepdims=True)


@pytest.mark.parametrize("kind", losses.TYPES)
@settings(max_examples=25)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_gradient_matches_central_differences(kind: str, data: st.DataObject, seed: int) -> None:
    loss = LOSS.validate_python(data.draw(loss_spec(kind)))
    shape = (*data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)), data.draw(st.integers(2, 4)))
    note(f"{loss!r} {shape}")
    y, t = case(kind, loss, np.random.default_rng(seed), shape)
    value, grad = losses.compute(loss, y, t)
    assert np.isfinite(value) and grad.shape == y.shape and grad.dtype == np.float64
    for idx in np.ndindex(y.shape):
        plus, minus = y.copy(), y.copy()
        plus[idx] += H
        minus[idx] -= H
        num = (losses.compute(loss, plus, t)[0] - losses.compute(loss, minus, t)[0]) / (2 * H)
        assert abs(grad[idx] - num) <= 1e-6 * max(1.0, abs(num)), (idx, grad[idx], num)


def test_known_values() -> None:
    y, t = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[0.0, 0.0], [0.5, 0.0]])
    assert losses.compute(make(type="mse"), y, t)[0] == pytest.approx((1 + 4 + 0 + 9) / 4, rel=1e-15)
    assert losses.compute(make(type="mse", reduction="sum"), y, t)[0] == pytest.approx(14.0, rel=1e-15)
    assert losses.compute(make(type="mae"), y, t)[0] == pytest.approx(6 / 4, rel=1e-15)
    hub = make(type="huber", delta=1.0, reduction="sum")
    assert losses.compute(hub, np.array([0.5, 3.0, -1.0]), np.zeros(3))[0] == pytest.approx(0.125 + 2.5 + 0.5)
    bce = make(type="binary_crossentropy", from_logits=False, label_smoothing=0.2)
    v, _ = losses.compute(bce, np.array([[0.8]]), np.array([[1.0]]))
    assert v == pytest.approx(-(0.9 * math.log(0.8) + 0.1 * math.log(0.2)), rel=1e-14)
    cce = make(type="sparse_categorical_crossentropy", from_logits=True, label_smoothing=0.1)
    assert losses.compute(cce, np.zeros((1, 2)), np.array([1]))[0] == pytest.approx(math.log(2), rel=1e-15)
    nll = make(type="nll")
    assert losses.compute(nll, np.log(np.array([[0.25, 0.75]])), np.array([1]))[0] == pytest.approx(-math.log(0.75))


def test_smoothing_formulas() -> None:
    # categorical: t ← t(1 − s) + s/C; torch's (1 − s)·nll + (s/C)·Σ_c −log p_c is the same number
    y = np.array([[1.0, 2.0, -1.0]])
    logp = y - np.log(np.exp(y).sum())
    s = 0.3
    expected = (1 - s) * -logp[0, 1] + s / 3 * -logp.sum()
    for kind, t in (("sparse_categorical_crossentropy", np.array([1])),
                    ("categorical_crossentropy", np.array([[0.0, 1.0, 0.0]]))):
        v, _ = losses.compute(make(type=kind, from_logits=True, label_smoothing=s), y, t)
        assert v == pytest.approx(expected, rel=1e-14)
    # binary: t ← t(1 − s) + s/2
    v, _ = losses.compute(make(type="binary_crossentropy", from_logits=True, label_smoothing=s),
                          np.array([[0.7]]), np.array([[0.0]]))
    p, ts = 1 / (1 + math.exp(-0.7)), s / 2
    assert v == pytest.approx(-(ts * math.log(p) + (1 - ts) * math.log(1 - p)), rel=1e-14)


@pytest.mark.parametrize("kind", ["categorical_crossentropy", "binary_crossentropy"])
def test_logits_and_probabilities_agree(kind: str) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(4, 3))
    if kind == "binary_crossentropy":
        p, t = 1 / (1 + np.exp(-y)), rng.integers(0, 2, size=(4, 3)).astype(float)
    else:
        p, t = np.exp(y) / np.exp(y).sum(-1, keepdims=True), np.eye(3)[rng.integers(0, 3, size=4)]
    a = losses.compute(make(type=kind, from_logits=True, label_smoothing=0.1), y, t)[0]
    b = losses.compute(make(type=kind, from_logits=False, label_smoothing=0.1), p, t)[0]
    assert a == pytest.approx(b, rel=1e-13)


def test_logit_forms_are_stable_for_huge_logits() -> None:
    y = np.array([[1000.0, -1000.0, 0.0]])
    v, g = losses.compute(make(type="sparse_categorical_crossentropy", from_logits=True), y, np.array([1]))
    assert v == pytest.approx(2000.0) and np.all(np.isfinite(g))
    v, g = losses.compute(make(type="binary_crossentropy", from_logits=True), np.array([800.0, -800.0]),
                          np.array([0.0, 1.0]))
    assert v == pytest.approx(800.0) and np.allclose(g, [0.5, -0.5])


def test_probabilities_are_never_clipped() -> None:
    bce = make(type="binary_crossentropy", from_logits=False)
    assert losses.compute(bce, np.array([0.0]), np.array([1.0]))[0] == math.inf
    # a term whose weight is zero contributes nothing, whatever the probability: 0·log 0 = 0
    v, g = losses.compute(bce, np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    assert v == 0.0 and np.array_equal(g, [1.0 / 2, -1.0 / 2])
    cce = make(type="categorical_crossentropy", from_logits=False)
    v, g = losses.compute(cce, np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]]))
    assert v == 0.0 and np.array_equal(g, [[0.0, -1.0]])
    assert losses.compute(cce, np.array([[1e-300, 1.0]]), np.array([[1.0, 0.0]]))[0] == pytest.approx(
        300 * math.log(10))  # Keras would clip at 1e-7 and report 16.1
    # probabilities are not renormalized: rows that do not sum to 1 are taken as given
    assert losses.compute(cce, np.array([[0.5, 0.25]]), np.array([[0.0, 1.0]]))[0] == pytest.approx(math.log(4))


def test_mae_gradient_at_zero_is_zero() -> None:
    _, g = losses.compute(make(type="mae", reduction="sum"), np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0]))
    assert g.tolist() == [0.0, 1.0, -1.0]


def test_mean_runs_over_every_position_of_class_losses() -> None:
    rng = np.random.default_rng(2)
    y, t = rng.normal(size=(2, 5, 3)), rng.integers(0, 3, size=(2, 5))
    mean = losses.compute(make(type="sparse_categorical_crossentropy", from_logits=True), y, t)[0]
    total = losses.compute(make(type="sparse_categorical_crossentropy", from_logits=True, reduction="sum"), y, t)[0]
    assert mean == pytest.approx(total / 10, rel=1e-14)
    e = losses.compute(make(type="mse"), y, np.zeros_like(y))[0]
    assert e == pytest.approx(float((y**2).sum()) / 30, rel=1e-14)  # element losses: over all N·T·C


def test_targets_are_shaped_not_broadcast() -> None:
    mse = make(type="mse")
    assert losses.compute(mse, np.array([[1.0], [2.0]]), np.array([0.0, 0.0]))[0] == pytest.approx(2.5)
    with pytest.raises(ValueError, match="target shape"):
        losses.compute(mse, np.zeros((2, 2)), np.zeros(2))
    sce = make(type="sparse_categorical_crossentropy", from_logits=True)
    assert losses.compute(sce, np.zeros((2, 3)), np.array([[0], [2]]))[0] == pytest.approx(math.log(3))
    for bad in (np.array([0, 3]), np.array([-1, 0]), np.array([0.5, 1.0])):
        with pytest.raises(ValueError):
            losses.compute(sce, np.zeros((2, 3)), bad)
    with pytest.raises(ValueError, match="sparse"):
        losses.compute(make(type="categorical_crossentropy", from_logits=True), np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(KeyError):
        losses.get("hinge")


def test_against_torch_when_installed() -> None:
    torch = pytest.importorskip("torch")
    f = torch.nn.functional
    rng = np.random.default_rng(3)
    y, t = rng.normal(size=(4, 2, 5)), rng.integers(0, 5, size=(4, 2))
    ours = losses.compute(make(type="sparse_categorical_crossentropy", from_logits=True, label_smoothing=0.2),
                          y, t)[0]
    theirs = f.cross_entropy(torch.tensor(y).permute(0, 2, 1), torch.tensor(t), label_smoothing=0.2).item()
    assert ours == pytest.approx(theirs, rel=1e-12)
    d = rng.normal(size=(6,)) * 2
    ours = losses.compute(make(type="huber", delta=0.7), d, np.zeros(6))[0]
    assert ours == pytest.approx(f.huber_loss(torch.tensor(d), torch.zeros(6, dtype=torch.float64), delta=0.7).item())
    z, b = rng.normal(size=(3, 2)), rng.integers(0, 2, size=(3, 2)).astype(float)
    ours = losses.compute(make(type="binary_crossentropy", from_logits=True), z, b)[0]
    assert ours == pytest.approx(f.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(b)).item())


# ------------------------------------------------------------------------------------------ metrics
def test_accuracy_reads_the_loss() -> None:
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 1.0], [5.0, 5.0, 0.0]])
    sce = make(type="sparse_categorical_crossentropy", from_logits=True)
    assert metrics.accuracy(logits, np.array([0, 2, 1]), sce) == pytest.approx(2 / 3)  # tie -> first max
    assert metrics.accuracy(logits, np.eye(3)[[0, 2, 1]], make(type="categorical_crossentropy",
                                                              from_logits=True)) == pytest.approx(2 / 3)
    out = np.array([[0.2], [-0.1], [0.7]])
    t = np.array([1.0, 0.0, 1.0])
    assert metrics.accuracy(out, t, make(type="binary_crossentropy", from_logits=True)) == 1.0
    assert metrics.accuracy(out, t, make(type="binary_crossentropy", from_logits=False)) == pytest.approx(2 / 3)
    assert metrics.accuracy(out, t, "binary_crossentropy", from_logits=True) == 1.0  # the runner's call


def test_regression_metrics() -> None:
    y, t = np.array([[1.0], [3.0]]), np.array([0.0, 1.0])
    assert metrics.mse(y, t) == pytest.approx(2.5) and metrics.mae(y, t) == pytest.approx(1.5)
