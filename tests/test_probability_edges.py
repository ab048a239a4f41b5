"""Probability losses at the edges p ∈ {0, 1}, on every framework adapter (v1-semantics § Losses).

A saturated sigmoid (σ(40) is exactly 1 in float32 and float64) or softmax row ([1, 0]) puts p = 1 or p = 0 under
a target weight of 0: the standard says that term is 0 in value and in derivative (0 · log 0 = 0). Both adapters
once computed 0 · (−inf) = NaN there and stopped the run at step 1 (docs/conformance.md, found by an audit; the
reproducers are docs/reproducers/saturated-*/). Each test runs on every installed backend (`backend`), against
the float64 reference: the loss function alone (its value and ∂L/∂p), and whole recipes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests_support import FRAMEWORKS, import_framework

from lockstep.conformance.checks import compare
from lockstep.reference import losses as reference_losses

ROOT = Path(__file__).resolve().parents[1]
REPRODUCERS = ROOT / "docs" / "reproducers"
BACKENDS = FRAMEWORKS
DTYPES = ("float32", "float64")
CLASS_INDEX = ("sparse_categorical_crossentropy",)


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """Each framework adapter, skipped where its framework is not installed."""
    return import_framework(request.param)


def _loss(doc: dict[str, Any]) -> Any:
    from pydantic import TypeAdapter

    from lockstep.spec.losses import Loss

    return TypeAdapter(Loss).validate_python(doc)


def adapter_loss(backend: str, doc: dict[str, Any], p: np.ndarray, t: np.ndarray, dtype: str
                 ) -> tuple[float, np.ndarray]:
    """(loss, ∂loss/∂p) of the adapter's own loss function (the one its sessions compile) at exactly `p`."""
    loss = _loss(doc)
    classes = doc["type"] in CLASS_INDEX
    if backend == "torch":
        import torch

        from lockstep.adapters.torch import losses

        pt = torch.tensor(p, dtype=getattr(torch, dtype), requires_grad=True)
        tt = torch.tensor(t, dtype=torch.int64 if classes else getattr(torch, dtype))
        value = losses.build(loss, p.ndim)(pt, tt)
        value.backward()
        return float(value.detach()), pt.grad.numpy().astype(np.float64)
    import tensorflow as tf

    from lockstep.adapters.tensorflow import losses

    pt = tf.constant(p, dtype=dtype)
    tt = tf.constant(t, dtype=tf.int64 if classes else dtype)
    with tf.GradientTape() as tape:
        tape.watch(pt)
        value = losses.build(loss, dtype)(pt, tt)
    return float(value.numpy()), tape.gradient(value, pt).numpy().astype(np.float64)


def reference_loss(doc: dict[str, Any], p: np.ndarray, t: np.ndarray, dtype: str) -> tuple[float, np.ndarray]:
    """The float64 reference at the adapter's own input values (p and float targets rounded to `dtype`)."""
    loss = _loss(doc)
    rounded_t = t if doc["type"] in CLASS_INDEX else t.astype(dtype).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return reference_losses.compute(loss, p.astype(dtype).astype(np.float64), rounded_t)


def assert_agrees(backend: str, doc: dict[str, Any], p: np.ndarray, t: np.ndarray, dtype: str
                  ) -> tuple[float, np.ndarray]:
    """The adapter's loss and ∂L/∂p equal the reference's: under the float64 rule (float32: its one-shot rule)
    where the reference is finite, and the same infinities (same sign, same elements) where it is not."""
    value, grad = adapter_loss(backend, doc, p, t, dtype)
    ref_value, ref_grad = reference_loss(doc, p, t, dtype)
    where = f"{backend} {dtype} {doc} at p={p.tolist()}, t={t.tolist()}"
    assert not math.isnan(value), f"{where}: loss is NaN (reference {ref_value})"
    assert not np.isnan(grad).any(), f"{where}: NaN in ∂L/∂p {grad.tolist()} (reference {ref_grad.tolist()})"
    if math.isinf(ref_value):
        assert value == ref_value, f"{where}: loss {value}, reference {ref_value}"
    else:
        c = compare("loss", value, ref_value, dtype)
        assert c.ok, f"{where}: {c.describe()} (adapter {value!r}, reference {ref_value!r})"
    finite = np.isfinite(ref_grad)
    assert np.array_equal(np.isfinite(grad), finite), \
        f"{where}: non-finite ∂L/∂p elements differ: {grad.tolist()} vs reference {ref_grad.tolist()}"
    assert np.array_equal(grad[~finite], ref_grad[~finite]), \
        f"{where}: infinite ∂L/∂p differ: {grad[~finite].tolist()} vs {ref_grad[~finite].tolist()}"
    scale = float(np.max(np.abs(ref_grad[finite]), initial=0.0))
    c = compare("gradient", np.where(finite, grad, 0.0), np.where(finite, ref_grad, 0.0), dtype, scale)
    assert c.ok, f"{where}: ∂L/∂p {c.describe()}: {grad.tolist()} vs reference {ref_grad.tolist()}"
    return value, grad


# --------------------------------------------------------------------------------------- the loss alone
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_binary_saturated_zero_weight_terms_are_zero(backend: str, dtype: str, reduction: str) -> None:
    """p = t ∈ {0, 1}: each element's other term has weight 0, so ℓ = 0 there and ∂ℓ/∂p = ∓1 (times the
    reduction's scale), finite; before the fix both adapters gave NaN."""
    p = np.array([1.0, 0.0, 1.0, 0.0, 0.25, 0.75])
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    doc = {"type": "binary_crossentropy", "from_logits": False, "reduction": reduction}
    value, grad = assert_agrees(backend, doc, p, t, dtype)
    assert math.isfinite(value), f"{backend} {dtype}: loss {value}"
    scale = 1.0 / p.size if reduction == "mean" else 1.0
    edge = grad[:4] / np.float64(np.asarray(scale, dtype=dtype))
    assert np.allclose(edge, [-1.0, 1.0, -1.0, 1.0], rtol=1e-6, atol=0), \
        f"{backend} {dtype}: ∂ℓ/∂p at the saturated elements {edge.tolist()}, expected [-1, 1, -1, 1]"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_type", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_categorical_saturated_rows(backend: str, dtype: str, loss_type: str, reduction: str) -> None:
    """Softmax rows saturated to one-hot ([1, 0, 0]) under their own class: ℓ = 0, and the gradient of every
    class of weight 0 (p = 0 there) is exactly 0; a row over positions ([N, T, C]) reduces the same way."""
    p = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]]])
    classes = np.array([[0, 2], [1, 1]])
    t = classes if loss_type in CLASS_INDEX else np.eye(3)[classes]
    doc = {"type": loss_type, "from_logits": False, "reduction": reduction}
    _, grad = assert_agrees(backend, doc, p, t, dtype)
    zero_weight = np.eye(3)[classes] == 0
    assert np.all(grad[zero_weight] == 0.0), \
        f"{backend} {dtype} {loss_type}: ∂ℓ/∂p of zero-weight classes {grad[zero_weight].tolist()} must be exactly 0"


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_targets_with_zero_classes(backend: str, dtype: str) -> None:
    """Soft target rows with some classes of weight 0 at p = 0 (and p = 1 against weight 0 elsewhere)."""
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.25, 0.75]])
    t = np.array([[0.3, 0.7, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    doc = {"type": "categorical_crossentropy", "from_logits": False, "reduction": "mean"}
    _, grad = assert_agrees(backend, doc, p, t, dtype)
    assert np.all(grad[t == 0] == 0.0), f"{backend} {dtype}: {grad.tolist()}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("doc", [
    {"type": "binary_crossentropy", "from_logits": False, "label_smoothing": 0.1},
    {"type": "categorical_crossentropy", "from_logits": False, "label_smoothing": 0.2},
    {"type": "sparse_categorical_crossentropy", "from_logits": False, "label_smoothing": 0.1},
], ids=["binary", "categorical", "sparse"])
def test_label_smoothing_makes_the_edges_infinite(backend: str, dtype: str, doc: dict[str, Any]) -> None:
    """With smoothing s > 0 every weight is nonzero, so p ∈ {0, 1} gives +inf (the step fails), not NaN, and
    not a clipped finite value: the same infinities as the reference, in the loss and in ∂L/∂p."""
    if doc["type"] == "binary_crossentropy":
        p, t = np.array([1.0, 0.0, 0.5]), np.array([1.0, 0.0, 1.0])
    else:
        p = np.array([[1.0, 0.0], [0.4, 0.6]])
        t = np.array([0, 1]) if doc["type"] in CLASS_INDEX else np.array([[1.0, 0.0], [0.0, 1.0]])
    value, _ = assert_agrees(backend, doc, p, t, dtype)
    assert value == math.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_nonzero_weight_at_the_edge_is_infinite(backend: str, dtype: str) -> None:
    """p = 0 under t = 1 (and p = 1 under t = 0) is +inf in the standard: never clipped to a finite value."""
    doc = {"type": "binary_crossentropy", "from_logits": False}
    value, _ = assert_agrees(backend, doc, np.array([0.0, 0.5]), np.array([1.0, 1.0]), dtype)
    assert value == math.inf
    value, _ = assert_agrees(backend, doc, np.array([1.0, 0.5]), np.array([0.0, 1.0]), dtype)
    assert value == math.inf


@given(data=st.data())
def test_categorical_from_logits_with_rows_not_summing_to_1(backend: str, data: st.DataObject) -> None:
    """Targets are never renormalized: an all-zero row (a padded position) adds 0 and has gradient 0, a row summing
    to s has softmax(y)·s - t. TensorFlow's op took the gradient as softmax(y) - t (docs/reproducers/
    keras-soft-target-gradient): the all-zero row got softmax(y)."""
    rows, classes = data.draw(st.integers(1, 4), label="rows"), data.draw(st.integers(2, 5), label="classes")
    # moderate logits: the one-shot float32 rule here is no bound for log_softmax's cancellation at saturated
    # logits (torch, Keras's own loss and this adapter round -log(1 + e^-9) alike); the conformance suite's edge
    # classes judge those under the standard's rules
    y = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=rows * classes, max_size=rows * classes),
                           label="logits")).reshape(rows, classes)
    t = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=rows * classes,
                                    max_size=rows * classes), label="targets")).reshape(rows, classes)
    t[0] = 0.0
    doc = {"type": "categorical_crossentropy", "from_logits": True,
           "label_smoothing": data.draw(st.sampled_from([0.0, 0.0, 0.1]), label="s"),
           "reduction": data.draw(st.sampled_from(["mean", "sum"]), label="reduction")}
    assert_agrees(backend, doc, y, t, data.draw(st.sampled_from(DTYPES), label="dtype"))


_p = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.01, 0.99))


@given(data=st.data())
def test_binary_property(backend: str, data: st.DataObject) -> None:
    """Any mix of p ∈ {0, 1} ∪ (0, 1), t ∈ {0, 1}, smoothing, reduction and dtype: the reference's value and
    ∂L/∂p (finite, or the same infinities)."""
    n = data.draw(st.integers(1, 6), label="n")
    p = np.array(data.draw(st.lists(_p, min_size=n, max_size=n), label="p"))
    t = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n), label="t"))
    doc = {"type": "binary_crossentropy", "from_logits": False,
           "label_smoothing": data.draw(st.sampled_from([0.0, 0.0, 0.1]), label="s"),
           "reduction": data.draw(st.sampled_from(["mean", "sum"]), label="reduction")}
    assert_agrees(backend, doc, p, t, data.draw(st.sampled_from(DTYPES), label="dtype"))


@given(data=st.data())
def test_categorical_property(backend: str, data: st.DataObject) -> None:
    """Rows with exact zeros and ones (saturated softmax) or interior values, soft or one-hot targets with
    classes of weight 0: the reference's value and ∂L/∂p."""
    rows, classes = data.draw(st.integers(1, 4), label="rows"), data.draw(st.integers(2, 4), label="classes")
    p = np.zeros((rows, classes))
    t = np.zeros((rows, classes))
    for i in range(rows):
        if data.draw(st.booleans(), label="saturated"):
            p[i, data.draw(st.integers(0, classes - 1), label="hot")] = 1.0
        else:
            p[i] = np.asarray(data.draw(st.lists(st.floats(0.05, 1.0), min_size=classes, max_size=classes)))
            p[i] /= p[i].sum()
        w = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0]), min_size=classes,
                                          max_size=classes), label="weights"))
        t[i] = w / w.sum() if w.sum() else np.eye(classes)[0]
    doc = {"type": "categorical_crossentropy", "from_logits": False,
           "label_smoothing": data.draw(st.sampled_from([0.0, 0.0, 0.1]), label="s"),
           "reduction": data.draw(st.sampled_from(["mean", "sum"]), label="reduction")}
    assert_agrees(backend, doc, p, t, data.draw(st.sampled_from(DTYPES), label="dtype"))


# --------------------------------------------------------------------------------------- whole recipes
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["saturated-sigmoid", "saturated-softmax"])
def test_reproducers_train_and_agree(backend: str, dtype: str, name: str) -> None:
    """The audit's runs (docs/reproducers/): a sigmoid saturated to exactly 1 under binary cross-entropy, a
    softmax saturated to [1, 0] under sparse categorical cross-entropy, from probabilities. The reference,
    and the adapter, train every step (free-running: no non-finite stop) and every step agrees re-synchronized."""
    from lockstep import api

    result = api.compare(REPRODUCERS / name / "recipe.yaml", ("reference", backend), dtype=dtype)
    assert not result.stopped, f"{name} {dtype}: a free run stopped: {result.stopped}"
    assert result.agree, f"{name} {dtype}: {backend} diverges: {result.first_divergence}"
    assert len(result.rows) == result.total_steps == 5
    losses = [r.losses[backend] for r in result.rows]
    assert all(math.isfinite(v) for v in losses), f"{name} {dtype}: {backend}'s losses {losses}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturation_is_real_in_the_reproducers(dtype: str) -> None:
    """The reproducers do reach the edge: the first batch's predictions hold exact 0s or 1s in both dtypes
    (else they would not reproduce anything)."""
    from lockstep.adapters.reference import ReferenceAdapter
    from lockstep.runner import prepare_run

    for name in ("saturated-sigmoid", "saturated-softmax"):
        prep = prepare_run(REPRODUCERS / name / "recipe.yaml")
        session = ReferenceAdapter().build(prep.model, dtype="float64", recipe=prep.recipe)
        session.set_parameters(prep.initial)
        out = session.forward(prep.data.x_train).astype(dtype)
        assert np.any((out == 0.0) | (out == 1.0)), f"{name} {dtype}: no saturated prediction in {out.tolist()}"
