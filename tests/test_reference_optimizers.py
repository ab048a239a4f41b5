"""Reference optimizers and clipping: hand-computed steps on a 2-element parameter for every optimizer
and option, a scalar transcription of the normative formulas checked against the NumPy reference over
hypothesis-drawn hyper-parameters, canonical state names, coupled L2, and torch.optim when installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from lockstep.conformance import strategies as cs
from lockstep.reference import clipping, optimizers
from lockstep.spec.optimizers import Optimizer
from lockstep.spec.schedules import GradientClipping

OPT = TypeAdapter(Optimizer)
CLIP = TypeAdapter(GradientClipping)

W0 = [1.0, -2.0]
GRADS = [[0.5, -1.0], [1.0, 0.0], [-0.5, 2.0]]


def run(spec: dict, grads: list[list[float]] = GRADS, w0: list[float] = W0, l2: float = 0.0,
        lrs: list[float] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    opt = OPT.validate_python(spec)
    params = {"w": np.array(w0, dtype=np.float64)}
    states = optimizers.init_states(opt, params)
    for t, g in enumerate(grads, start=1):
        lr = lrs[t - 1] if lrs else opt.learning_rate
        params = optimizers.apply(opt, params, {"w": np.array(g)}, states, lr, t, l2)
    return params["w"], states["w"]


# ------------------------------------------------------------------------------ hand-computed steps
def test_sgd_plain() -> None:
    w, s = run({"type": "sgd", "learning_rate": 0.1})
    assert w == pytest.approx([0.9, -2.1], rel=1e-15) and s == {}


def test_sgd_momentum_first_buffer_is_the_gradient() -> None:
    # b1 = g1 = [.5, -1]; b2 = .9 b1 + g2 = [1.45, -.9]; b3 = .9 b2 + g3 = [.805, 1.19]
    w, s = run({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    assert s["momentum_buffer"] == pytest.approx([0.805, 1.19], rel=1e-14)
    assert w == pytest.approx([1 - 0.1 * 2.755, -2 + 0.1 * 0.71], rel=1e-14)


def test_sgd_dampening_spares_the_first_step() -> None:
    # b1 = g1; b2 = .9 b1 + .5 g2 = [.95, -.9]; b3 = .9 b2 + .5 g3 = [.605, .19]
    w, s = run({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "dampening": 0.5})
    assert s["momentum_buffer"] == pytest.approx([0.605, 0.19], rel=1e-14)
    assert w == pytest.approx([1 - 0.2055, -2 + 0.171], rel=1e-14)


def test_sgd_nesterov() -> None:
    # d_t = g_t + .9 b_t: [.95, -1.9], [2.305, -.81], [.2245, 3.071]
    w, _ = run({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True})
    assert w == pytest.approx([1 - 0.34795, -2 - 0.0361], rel=1e-14)


def test_coupled_l2_is_added_to_the_gradient() -> None:
    w, _ = run({"type": "sgd", "learning_rate": 0.1}, grads=GRADS[:1], l2=0.1)  # g + .1 w = [.6, -1.2]
    assert w == pytest.approx([0.94, -1.88], rel=1e-15)
    w_adam, _ = run({"type": "adam", "learning_rate": 0.1}, grads=[[0.0, 0.0]], l2=0.1)
    assert w_adam == pytest.approx([1 - 0.1, -2 + 0.1], rel=1e-6)  # adam normalizes l2·w like any gradient


def test_adam_first_step_is_lr_times_sign() -> None:
    w, s = run({"type": "adam", "learning_rate": 0.1}, grads=GRADS[:1])
    assert w == pytest.approx([1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 * 1 / (1 + 1e-8)], rel=1e-15)
    assert s["exp_avg"] == pytest.approx([0.05, -0.1]) and s["exp_avg_sq"] == pytest.approx([0.00025, 0.001])
    assert set(s) == {"exp_avg", "exp_avg_sq"}


def test_adam_epsilon_is_outside_the_corrected_root() -> None:
    eps = 0.1
    w, _ = run({"type": "adam", "learning_rate": 0.1, "epsilon": eps}, grads=[[2.0, 2.0]])
    # v̂ = g² = 4: step = lr · 2 / (2 + ε). Keras's form (ε added before correcting) would give
    # lr · 2 / (2 + ε / √(1 − β2)) — a 40× larger ε at step 1.
    assert w[0] == pytest.approx(1 - 0.1 * 2 / 2.1, rel=1e-15)
    assert w[0] != pytest.approx(1 - 0.1 * 2 / (2 + eps / math.sqrt(0.001)), rel=1e-3)


def test_amsgrad_keeps_the_max_of_the_uncorrected_second_moment() -> None:
    w, s = run({"type": "adam", "learning_rate": 0.1, "amsgrad": True}, grads=[[0.5, -1.0], [0.0, 0.0]])
    v1 = np.array([0.00025, 0.001])
    assert s["max_exp_avg_sq"] == pytest.approx(v1) and s["exp_avg_sq"] == pytest.approx(0.999 * v1)
    m2 = 0.9 * np.array([0.05, -0.1])
    w1 = np.array(W0) - 0.1 * np.array([0.5, -1.0]) / (np.abs([0.5, -1.0]) + 1e-8)
    expected = w1 - 0.1 / (1 - 0.81) * m2 / (np.sqrt(v1) / math.sqrt(1 - 0.999**2) + 1e-8)
    assert w == pytest.approx(expected, rel=1e-13)


def test_adamw_decay_is_decoupled_and_scaled_by_lr() -> None:
    w, _ = run({"type": "adamw", "learning_rate": 0.1, "weight_decay": 0.5}, grads=[[0.0, 0.0]] * 3)
    assert w == pytest.approx(np.array(W0) * 0.95**3, rel=1e-15)  # zero gradients: pure decay
    w, _ = run({"type": "adamw", "learning_rate": 0.1, "weight_decay": 0.5}, grads=GRADS[:1])
    w_adam, _ = run({"type": "adam", "learning_rate": 0.1}, grads=GRADS[:1], w0=[0.95, -1.9])
    assert w == pytest.approx(w_adam, rel=1e-15)


def test_rmsprop_plain() -> None:
    w, s = run({"type": "rmsprop", "learning_rate": 0.1, "rho": 0.9, "epsilon": 0.01}, grads=GRADS[:1])
    v = np.array([0.025, 0.1])  # (1 − ρ) g², no bias correction
    assert s["square_avg"] == pytest.approx(v) and set(s) == {"square_avg"}
    assert w == pytest.approx(np.array(W0) - 0.1 * np.array(GRADS[0]) / (np.sqrt(v) + 0.01), rel=1e-15)


def test_rmsprop_centered_with_momentum() -> None:
    w, s = run({"type": "rmsprop", "learning_rate": 0.1, "rho": 0.9, "epsilon": 0.01, "centered": True,
                "momentum": 0.5}, grads=GRADS[:2])
    g1, g2 = np.array(GRADS[0]), np.array(GRADS[1])
    v1, a1 = 0.1 * g1**2, 0.1 * g1
    b1 = g1 / (np.sqrt(v1 - a1**2) + 0.01)
    v2, a2 = 0.9 * v1 + 0.1 * g2**2, 0.9 * a1 + 0.1 * g2
    b2 = 0.5 * b1 + g2 / (np.sqrt(v2 - a2**2) + 0.01)
    assert s["momentum_buffer"] == pytest.approx(b2, rel=1e-14) and s["grad_avg"] == pytest.approx(a2)
    assert w == pytest.approx(np.array(W0) - 0.1 * b1 - 0.1 * b2, rel=1e-14)


def test_adagrad() -> None:
    w, s = run({"type": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.1}, grads=GRADS[:2])
    # s1 = [.35, 1.1], s2 = [1.35, 1.1]
    w1 = np.array(W0) - 0.1 * np.array(GRADS[0]) / (np.sqrt([0.35, 1.1]) + 1e-10)
    assert s["sum"] == pytest.approx([1.35, 1.1], rel=1e-15)
    assert w == pytest.approx(w1 - 0.1 * np.array([1.0, 0.0]) / (np.sqrt([1.35, 1.1]) + 1e-10), rel=1e-15)


def test_learning_rate_multiplies_the_step_not_the_buffer() -> None:
    # changing lr between steps: torch's b is lr-free, so step 2 moves by lr2·b2 exactly
    w, _ = run({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}, grads=GRADS[:2], lrs=[0.1, 1.0])
    assert w == pytest.approx(np.array(W0) - 0.1 * np.array([0.5, -1.0]) - 1.0 * np.array([1.45, -0.9]))


def test_apply_leaves_inputs_alone_and_checks_arguments() -> None:
    opt = OPT.validate_python({"type": "adam", "learning_rate": 0.1})
    params = {"w": np.array(W0)}
    states = optimizers.init_states(opt, params)
    new = optimizers.apply(opt, params, {"w": np.array([1.0, 1.0])}, states, 0.1, 1)
    assert params["w"].tolist() == W0 and new["w"] is not params["w"]
    with pytest.raises(ValueError):
        optimizers.apply(opt, params, {"w": np.ones(2)}, states, 0.1, 0)
    with pytest.raises(KeyError):
        optimizers.apply(opt, params, {}, states, 0.1, 1)


@pytest.mark.parametrize("spec,names", [
    ({"type": "sgd", "learning_rate": 0.1}, set()),
    ({"type": "sgd", "learning_rate": 0.1, "momentum": 0.5}, {"momentum_buffer"}),
    ({"type": "adam", "learning_rate": 0.1, "amsgrad": True}, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
    ({"type": "adamw", "learning_rate": 0.1}, {"exp_avg", "exp_avg_sq"}),
    ({"type": "rmsprop", "learning_rate": 0.1, "centered": True, "momentum": 0.1},
     {"square_avg", "grad_avg", "momentum_buffer"}),
    ({"type": "adagrad", "learning_rate": 0.1}, {"sum"}),
])
def test_canonical_state_names(spec: dict, names: set[str]) -> None:
    opt = OPT.validate_python(spec)
    state = optimizers.get(opt.type).init_state(opt, np.zeros((2, 3)))
    assert set(state) == names and all(a.shape == (2, 3) and a.dtype == np.float64 for a in state.values())


# -------------------------------------------------- the normative formulas, transcribed per scalar
def scalar_rule(spec: dict, w: float, grads: list[float], lr: float) -> float:
    """The doc's formulas in plain Python floats, one scalar parameter, written independently."""
    k = spec["type"]
    m = v = vmax = a = b = 0.0
    s = spec.get("initial_accumulator_value", 0.0)
    for t, g in enumerate(grads, start=1):
        if k == "sgd":
            mu, damp = spec.get("momentum", 0.0), spec.get("dampening", 0.0)
            if mu == 0:
                d = g
            else:
                b = g if t == 1 else mu * b + (1 - damp) * g
                d = g + mu * b if spec.get("nesterov") else b
            w -= lr * d
        elif k in ("adam", "adamw"):
            b1, b2, eps = spec.get("beta1", 0.9), spec.get("beta2", 0.999), spec.get("epsilon", 1e-8)
            if k == "adamw":
                w *= 1 - lr * spec.get("weight_decay", 0.01)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            vmax = max(vmax, v)
            vv = vmax if spec.get("amsgrad") else v
            w -= lr * (m / (1 - b1**t)) / (math.sqrt(vv / (1 - b2**t)) + eps)
        elif k == "rmsprop":
            rho, eps, mu = spec.get("rho", 0.99), spec.get("epsilon", 1e-8), spec.get("momentum", 0.0)
            v = rho * v + (1 - rho) * g * g
            if spec.get("centered"):
                a = rho * a + (1 - rho) * g
                den = math.sqrt(v - a * a) + eps
            else:
                den = math.sqrt(v) + eps
            if mu > 0:
                b = mu * b + g / den
                w -= lr * b
            else:
                w -= lr * g / den
        else:
            s += g * g
            w -= lr * g / (math.sqrt(s) + spec.get("epsilon", 1e-10))
    return w


@pytest.mark.parametrize("kind", optimizers.TYPES)
@settings(max_examples=30)
@given(data=st.data())
def test_reference_matches_the_scalar_transcription(kind: str, data: st.DataObject) -> None:
    spec = data.draw(cs.optimizer_case(kind))
    grads = data.draw(st.lists(st.lists(st.floats(-3, 3), min_size=2, max_size=2), min_size=1, max_size=4))
    w, _ = run(spec, grads=grads)
    for i in range(2):
        expected = scalar_rule(spec, W0[i], [g[i] for g in grads], spec["learning_rate"])
        assert w[i] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_against_torch_optim_when_installed() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    cases = [
        ({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "dampening": 0.3},
         lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01, foreach=False)),
        ({"type": "adam", "learning_rate": 0.01, "epsilon": 1e-3, "amsgrad": True},
         lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-3, amsgrad=True, weight_decay=0.01, foreach=False)),
        ({"type": "rmsprop", "learning_rate": 0.01, "centered": True, "momentum": 0.5},
         lambda p: torch.optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5, weight_decay=0.01, foreach=False)),
        ({"type": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.2},
         lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.2, weight_decay=0.01,
                                       foreach=False)),
    ]
    for spec, make in cases:
        grads = rng.normal(size=(5, 4))
        w, state = run(spec, grads=grads.tolist(), w0=[0.3, -0.2, 1.0, 0.0], l2=0.01)
        p = torch.nn.Parameter(torch.tensor([0.3, -0.2, 1.0, 0.0], dtype=torch.float64))
        topt = make([p])
        for g in grads:
            p.grad = torch.tensor(g)
            topt.step()
        assert np.allclose(w, p.detach().numpy(), rtol=1e-13, atol=1e-15), spec
        for name, arr in state.items():
            assert np.allclose(arr, topt.state[p][name].numpy(), rtol=1e-13, atol=1e-15), (spec, name)
    adamw = run({"type": "adamw", "learning_rate": 0.01, "weight_decay": 0.1}, grads=GRADS)[0]
    p = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    topt = torch.optim.AdamW([p], lr=0.01, weight_decay=0.1, foreach=False)
    for g in GRADS:
        p.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
    assert np.allclose(adamw, p.detach().numpy(), rtol=1e-13)


# ------------------------------------------------------------------------------------------ clipping
def test_clip_by_global_norm_has_no_epsilon() -> None:
    g = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    out, norm = clipping.clip(g, CLIP.validate_python({"type": "global_norm", "max_norm": 1.0}))
    assert norm == 5.0 and out["a"][0] == pytest.approx(0.6, rel=1e-15) and out["b"][0, 0] == pytest.approx(0.8)
    out, _ = clipping.clip(g, CLIP.validate_python({"type": "global_norm", "max_norm": 5.0}))
    assert out["a"][0] == 3.0  # ‖g‖ = c: untouched (torch's +1e-6 would shrink it)
    out, norm = clipping.clip({"a": np.zeros(3)}, CLIP.validate_python({"type": "global_norm", "max_norm": 1.0}))
    assert norm == 0.0 and not out["a"].any()
    out, _ = clipping.clip({"a": np.array([np.inf, 1.0])}, CLIP.validate_python({"type": "global_norm",
                                                                                 "max_norm": 1.0}))
    assert np.isnan(out["a"]).all()


def test_clip_by_value_and_none() -> None:
    g = {"a": np.array([3.0, -7.0]), "b": np.array([0.5])}
    out, norm = clipping.clip(g, CLIP.validate_python({"type": "value", "clip_value": 2.0}))
    assert out["a"].tolist() == [2.0, -2.0] and out["b"].tolist() == [0.5] and norm == pytest.approx(math.sqrt(58.25))
    out, _ = clipping.clip(g, None)
    assert out == g and out is not g


@settings(max_examples=30)
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=6), st.floats(0.01, 50))
def test_global_norm_clipping_lands_on_the_ball(values: list[float], max_norm: float) -> None:
    g = {"w": np.array(values)}
    out, norm = clipping.clip(g, CLIP.validate_python({"type": "global_norm", "max_norm": max_norm}))
    after = clipping.global_norm(out)
    assert after <= max_norm * (1 + 1e-14) and (norm > max_norm or np.array_equal(out["w"], g["w"]))
    if norm > max_norm:
        assert after == pytest.approx(max_norm, rel=1e-14)


def test_centered_rmsprop_takes_the_root_of_0_where_v_minus_a_squared_rounds_below_it() -> None:
    """Sweep X (2026-12-07): under a steady gradient v − a² = ρᵗ(1 − ρᵗ)g² falls below v's rounding and came out
    negative: the reference's √ gave NaN, as torch.optim.RMSprop's does (docs/conformance.md, found in real
    frameworks). The standard takes √max(v − a², 0): the step divides by ε there."""
    g = 2.5736387869968325  # v − a² = −8.9e-16 at step 9 in float64: NaN there before
    w, s = run({"type": "rmsprop", "learning_rate": 1e-7, "rho": 0.01, "centered": True}, grads=[[g]] * 12, w0=[0.0])
    assert np.all(np.isfinite(w)), w
    x = s["square_avg"] - s["grad_avg"] ** 2
    assert x[0] <= 0.0 or x[0] < 1e-15 * s["square_avg"][0], x
