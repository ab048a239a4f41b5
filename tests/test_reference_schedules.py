"""Reference learning-rate schedules: closed forms per optimizer step, warm-up boundaries."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from lockstep.conformance import strategies as cs
from lockstep.reference import schedules
from lockstep.spec.schedules import Schedule

SCHED = TypeAdapter(Schedule)


def lr(spec: dict, t: int, base: float = 1.0) -> float:
    return schedules.learning_rate(SCHED.validate_python(spec), base, t)


def test_constant() -> None:
    assert [lr({"type": "constant"}, t, 0.3) for t in (0, 1, 1000)] == [0.3, 0.3, 0.3]


def test_step_is_a_staircase() -> None:
    spec = {"type": "step", "step_size": 3, "gamma": 0.5}
    assert [lr(spec, t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]


def test_exponential() -> None:
    spec = {"type": "exponential", "gamma": 0.9}
    assert lr(spec, 0) == 1.0 and lr(spec, 1) == 0.9 and lr(spec, 10) == pytest.approx(0.9**10, rel=1e-15)


def test_cosine_reaches_min_at_T_and_holds() -> None:
    spec = {"type": "cosine", "decay_steps": 4, "min_learning_rate": 0.1}
    assert lr(spec, 0) == 1.0
    assert lr(spec, 2) == pytest.approx(0.55, rel=1e-15)  # half-way: (base + min) / 2
    assert lr(spec, 1) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-15)
    assert lr(spec, 4) == pytest.approx(0.1, rel=1e-15) and lr(spec, 100) == lr(spec, 4)  # never rises again


def test_warmup_boundaries() -> None:
    spec = {"type": "cosine", "decay_steps": 10, "warmup": {"steps": 4, "start_factor": 0.2}}
    assert lr(spec, 0) == pytest.approx(0.2)  # t = 0 uses f·base
    assert lr(spec, 3) == pytest.approx(0.2 + 0.8 * 3 / 4)  # last warm-up step stays below base
    assert lr(spec, 4) == 1.0  # the schedule's own t = 0
    assert lr(spec, 9) == pytest.approx((1 + math.cos(math.pi * 5 / 10)) / 2)
    assert lr({"type": "constant", "warmup": {"steps": 2}}, 0) == 0.0  # start_factor 0: the first step is lr 0
    step = {"type": "step", "step_size": 2, "gamma": 0.1, "warmup": {"steps": 3}}
    assert [lr(step, t) for t in range(3, 8)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_negative_steps_are_rejected() -> None:
    with pytest.raises(ValueError):
        lr({"type": "constant"}, -1)


@given(st.sampled_from(cs.SCHEDULES).flatmap(cs.schedule_case), st.integers(0, 60), st.floats(1e-4, 1.0))
def test_closed_forms(spec: dict, t: int, base: float) -> None:
    sched = SCHED.validate_python(spec)
    got = schedules.learning_rate(sched, base, t)
    w = sched.warmup
    if w is not None and t < w.steps:
        assert got == pytest.approx(base * (w.start_factor + (1 - w.start_factor) * t / w.steps), rel=1e-15)
        assert got <= base
        return
    u = t - (w.steps if w else 0)
    expected = {
        "constant": lambda: base,
        "step": lambda: base * sched.gamma ** (u // sched.step_size),
        "exponential": lambda: base * sched.gamma**u,
        "cosine": lambda: sched.min_learning_rate + (base - sched.min_learning_rate)
        * (1 + math.cos(math.pi * min(u, sched.decay_steps) / sched.decay_steps)) / 2,
    }[sched.type]()
    assert got == pytest.approx(expected, rel=1e-14, abs=1e-300)
