"""The global gradient norm where its sum of squares overflows but the norm does not (v1-semantics, clipping).

torch's `get_total_norm` and TensorFlow's `tf.linalg.global_norm` sum the squares in the gradients' dtype, so
finite float32 gradients whose norm is above 2^64 got an infinite norm, and both adapters stopped a clipped step
the standard (and the reference) takes: found by the `overflow_norm` edge class (docs/conformance.md, "Found
in real frameworks"; the reproducer is docs/reproducers/overflowing-norm/). Each adapter now takes the norm
again on gradients scaled by a power of two, there and only there. Checked here: the reference's norm, each
adapter's norm function against it (and bitwise against the native norm where that does not overflow), and
whole clipped runs in both dtypes, compiled and eager. And the other end, met on the way: the same run with a
bias, whose clipped update is a float32 subnormal, which the one-step rules once judged without their underflow
term (λ per rounding, as the batch rules have it): torch was off by one subnormal ulp, TensorFlow flushed to 0.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_support import FRAMEWORKS, import_framework

from lockstep.reference.clipping import global_norm

ROOT = Path(__file__).resolve().parents[1]
REPRODUCER = ROOT / "docs" / "reproducers" / "overflowing-norm"
BACKENDS = FRAMEWORKS
DTYPES = ("float32", "float64")
SQRT_MAX_EXPONENT = {"float32": 64, "float64": 512}  # a norm above 2^this has squares beyond the dtype


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """Each framework adapter, skipped where its framework is not installed."""
    return import_framework(request.param)


TINY_EXPONENT = {"float32": -100, "float64": -1000}  # 2^this times N(0, 1): squares far below the dtype, values
# still normal (TensorFlow flushes subnormals to 0)


@st.composite
def gradients(draw, dtype: str, tiny: bool = False) -> list[np.ndarray]:
    """One to three gradients of N(0, 1) values times 2^k, k from ordinary to the sum-of-squares overflow and
    up to where the norm itself is near the dtype's limit; `tiny`: k from TINY_EXPONENT, where the squares
    underflow, up to ordinary."""
    top = SQRT_MAX_EXPONENT[dtype]
    k = draw(st.integers(TINY_EXPONENT[dtype], 0) if tiny else st.integers(0, 2 * top - 8), label="k")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    sizes = draw(st.lists(st.integers(1, 20), min_size=1, max_size=3), label="sizes")
    return [np.ldexp(rng.normal(size=n), k).astype(dtype) for n in sizes]


def _true_norm(grads: list[np.ndarray]) -> float:
    """The norm in float64 from exactly scaled values (never overflows for float32 inputs)."""
    return global_norm({str(i): g.astype(np.float64) for i, g in enumerate(grads)})


# ------------------------------------------------------------------------------------------- reference
@settings(max_examples=60, derandomize=True, deadline=None)
@given(grads=gradients("float64"), e=st.integers(-600, 600))
def test_reference_norm_scales_exactly_and_overflows_only_beyond_float64(grads: list[np.ndarray], e: int) -> None:
    named = {str(i): g for i, g in enumerate(grads)}
    base = global_norm(named)
    with np.errstate(over="ignore"):
        scaled = global_norm({k: np.ldexp(g, e) for k, g in named.items()})
    expected = math.ldexp(base, e) if math.frexp(base)[1] + e <= 1024 else math.inf
    assert math.isfinite(base), f"norm {base} of finite float64 gradients below 2^1016"
    if math.isfinite(expected):  # and where the squares underflow (sweep L: ‖[3e-170, 4e-170]‖ was 0)
        assert scaled == pytest.approx(expected, rel=1e-14), f"‖g·2^{e}‖ = {scaled}, ‖g‖·2^{e} = {expected}"


def test_reference_clips_gradients_whose_squares_underflow_to_the_threshold() -> None:
    """v1-semantics: ‖g‖ is the true norm and ‖g‖ > c lands on c; the squares of [3e-170, 4e-170] are 0 in
    float64, so ‖g‖ was 0 and nothing was clipped (sweep L)."""
    from lockstep.reference.clipping import clip
    from lockstep.spec.schedules import ClipGlobalNorm

    clipped, norm = clip({"a": np.array([3e-170, 4e-170])}, ClipGlobalNorm(type="global_norm", max_norm=1e-171))
    assert norm == pytest.approx(5e-170, rel=1e-15)
    np.testing.assert_allclose(clipped["a"], [6e-172, 8e-172], rtol=1e-15)
    assert global_norm({"a": np.zeros(3)}) == 0.0


def test_reference_norm_of_non_finite_gradients_is_non_finite() -> None:
    assert global_norm({"a": np.array([np.inf, 1e300, 1e300])}) == math.inf
    assert math.isnan(global_norm({"a": np.array([np.nan, 1e300, 1e300])}))
    assert global_norm({"a": np.array([1.7e308, 1.7e308])}) == math.inf  # ‖g‖ itself beyond float64
    assert global_norm({}) == 0.0


# ------------------------------------------------------------------------------------------- adapters
def _adapter_norm(backend: str, grads: list[np.ndarray], mode: str) -> tuple[float, float]:
    """(the adapter's norm, the framework's own norm) of `grads`; mode `eager` or `graph` (TensorFlow)."""
    if backend == "torch":
        import torch

        from lockstep.adapters.torch import clipping

        ts = [torch.from_numpy(g.copy()) for g in grads]
        norm = clipping.total_norm(ts)
        return clipping.true_norm(ts, norm, float(norm))[1], float(norm)
    import tensorflow as tf

    from lockstep.adapters.tensorflow import clipping

    ts = [tf.constant(g) for g in grads]
    native = float(tf.linalg.global_norm(ts))
    if mode == "graph":
        fn = tf.function(lambda *gs: clipping.global_norm(list(gs)), autograph=False)
        return float(fn(*ts)), native
    return float(clipping.global_norm(ts)), native


def _check_norms(backend: str, dtype: str, mode: str, tiny: bool = False) -> None:
    limit = float(np.finfo(dtype).max)
    eps = float(np.finfo(dtype).eps)
    small = {"float32": 2.0 ** -60, "float64": 2.0 ** -500}[dtype]  # the adapters' SMALL_NORM

    @settings(max_examples=40, derandomize=True, deadline=None)
    @given(grads=gradients(dtype, tiny))
    def run(grads: list[np.ndarray]) -> None:
        got, native = _adapter_norm(backend, grads, mode)
        true = _true_norm(grads)
        n = sum(g.size for g in grads)
        if math.isfinite(native) and native >= small:  # where the framework's norm holds, it is used as it is
            assert got == native, f"{got} is not the native norm {native}"
        if true < limit * (1 - 4 * n * eps):
            assert math.isfinite(got), f"{dtype} norm {got}, true {true} (the dtype holds it)"
            assert abs(got - true) <= 2 * n * eps * true, f"{dtype} norm {got}, true {true}"
        elif true > limit:
            assert not math.isfinite(got), f"{dtype} norm {got} of a norm {true} beyond the dtype"

    run()


@pytest.mark.parametrize("dtype", DTYPES)
def test_adapter_norm_is_the_true_norm_where_the_dtype_holds_it(backend: str, dtype: str) -> None:
    _check_norms(backend, dtype, "eager")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_adapter_norm_of_gradients_whose_squares_underflow_is_the_true_norm(backend: str, dtype: str,
                                                                           mode: str) -> None:
    """Sweep L (2026-12-06): the standard's norm is the true one at the small end too; torch and TensorFlow sum
    the squares in the gradients' dtype, where float32 gradients below 2^-63 square into the subnormals (0 below
    2^-75; TensorFlow flushes them), and float64 ones below 2^-511: ‖[3e-170, 4e-170]‖ was 0 (and clipped
    nothing), here and in the reference. Each now takes it again scaled, as where the squares overflow."""
    if backend == "torch" and mode == "graph":
        pytest.skip("torch has no graph form")
    if mode == "graph":
        import lockstep.adapters.tensorflow  # noqa: F401 - sets TensorFlow's environment before its import
    _check_norms(backend, dtype, mode, tiny=True)
    true = _true_norm([np.array([3e-170, 4e-170])])
    assert true == pytest.approx(5e-170, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensorflow_graph_norm_is_the_true_norm_where_the_dtype_holds_it(dtype: str) -> None:
    """The compiled step's form (a tf.cond on the native norm)."""
    import lockstep.adapters.tensorflow  # noqa: F401 - sets TensorFlow's environment before its import

    pytest.importorskip("tensorflow")
    _check_norms("tensorflow", dtype, "graph")


def test_native_norms_still_overflow(backend: str) -> None:
    """The reason for the rescue: if a release stops overflowing, the rescue is dead code and this says so."""
    grads = [np.array([1e20, 2e20, -1e20, 1.5e20], dtype=np.float32)]
    assert not math.isfinite(_adapter_norm(backend, grads, "eager")[1])


# ------------------------------------------------------------------------------------------- whole runs
def _recipe(dtype: str, tmp_path: Path) -> Path:
    """The reproducer (float32: features ~1e20), or for float64 the same run scaled so that its squares pass
    float64's range (features ~1e160, weights 1e-160, learning rate 1e-161)."""
    if dtype == "float32":
        return REPRODUCER / "recipe.yaml"
    for name in ("model.yaml", "recipe.yaml", "points.csv"):
        text = (REPRODUCER / name).read_text()
        if name == "points.csv":
            rows = [line.split(",") for line in text.strip().split("\n")]
            text = "\n".join([",".join(rows[0])] + [",".join([*(f"{float(v) * 1e140:g}" for v in r[:-1]), r[-1]])
                                                    for r in rows[1:]]) + "\n"
        text = text.replace("1.0e-20", "1.0e-160").replace("1.0e-21", "1.0e-161").replace("dtype: float32",
                                                                                           "dtype: float64")
        (tmp_path / name).write_text(text)
    return tmp_path / "recipe.yaml"


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipped_runs_with_overflowing_squares_agree(backend: str, dtype: str, tmp_path: Path) -> None:
    from lockstep import api

    result = api.compare(_recipe(dtype, tmp_path), ("reference", backend))
    assert not result.stopped, f"{dtype}: a free run stopped: {result.stopped}"
    assert result.agree, f"{dtype}: {backend} diverges: {result.first_divergence}"
    assert len(result.rows) == result.total_steps == 5


@pytest.mark.parametrize("dtype", DTYPES)
def test_eager_and_compiled_steps_take_the_same_rescued_norm(dtype: str, tmp_path: Path) -> None:
    """TensorFlow's two execution modes (certify's generated cases run eagerly) step alike on the reproducer."""
    pytest.importorskip("tensorflow")
    from lockstep.adapters.tensorflow import TensorFlowAdapter
    from lockstep.runner import prepare_run

    prep = prepare_run(_recipe(dtype, tmp_path))
    x, y = prep.data.x_train[:4], prep.data.y_train[:4]
    results = []
    for eager in (False, True):
        session = TensorFlowAdapter().build(prep.model, dtype=dtype, recipe=prep.recipe)
        if eager:
            session.expect_few_calls()
            assert session.eager
        session.set_parameters(prep.initial)
        res = session.train_step(x, y)
        results.append((res.grad_norm, session.get_parameters()))
    (n0, p0), (n1, p1) = results
    assert math.isfinite(n0) and n0 > 2.0**64 * (dtype == "float32"), n0
    assert n0 == n1, (n0, n1)
    assert all(np.array_equal(p0[k], p1[k]) for k in p0), (p0, p1)


# ------------------------------------------------------------------------------- updates below the normal range
def _with_bias(tmp_path: Path) -> Path:
    """The float32 reproducer with its dense bias back: the bias's update, 1e-21 × ~4e-21 (its gradient scaled
    by max_norm/‖g‖), is a float32 subnormal, which TensorFlow's CPU kernels flush to 0."""
    for name in ("model.yaml", "recipe.yaml", "points.csv"):
        text = (REPRODUCER / name).read_text()
        (tmp_path / name).write_text("\n".join(line for line in text.split("\n") if "use_bias" not in line))
    return tmp_path / "recipe.yaml"


def test_one_step_rules_carry_the_underflow_floor() -> None:
    """Each rounding of an update may be off by λ = 2⁻¹²⁶ absolutely below the normal range (v1-semantics, the
    one-step rules): a parameter's atol is at least (c_opt + c_w)·λ whatever its values."""
    from types import SimpleNamespace

    from lockstep.conformance.tolerance import BatchRules, resync_rules
    from lockstep.reference.tolerances import Tolerance, optimizer_ops
    from lockstep.spec.optimizers import SGD

    lam = float(np.finfo(np.float32).tiny)
    g = {"w": np.array([4e-42, -3e-45, 0.0])}
    recipe = SimpleNamespace(optimizer=SGD(type="sgd", learning_rate=1e-21), gradient_clipping=None,
                             regularization=SimpleNamespace(l2=0.0))
    state = SimpleNamespace(parameters={"w": np.zeros(3)}, optimizer={"w": {}})
    batch = BatchRules(Tolerance(0.0, 0.0), {"w": Tolerance(0.0, 0.0)}, {})
    rules = resync_rules(recipe, "float32", 1, batch, g, state, state, 1e-21)
    assert np.all(np.asarray(rules.parameters["w"].atol) >= (optimizer_ops("sgd") + 1) * lam), rules.parameters


def test_subnormal_updates_agree_on_every_backend(backend: str, tmp_path: Path) -> None:
    from lockstep import api

    result = api.compare(_with_bias(tmp_path), ("reference", backend))
    assert result.agree, f"{backend} diverges: {result.first_divergence}"
