"""The replica processes' command loop (adapters/replica_wire.py), framework-free: what a replica raises reaches the
driver as the same exception, for torch's gloo ranks and TensorFlow's worker alike."""

from __future__ import annotations

import threading
from multiprocessing import Pipe
from typing import Any

import pytest

from lockstep.adapters import replica_wire
from lockstep.adapters.base import NonFiniteError, UnsupportedConstruct


class _Session:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    def times(self, x: float) -> float:
        return self.scale * x

    def step(self) -> None:
        raise NonFiniteError("gradient of dense.weight")

    def layer(self) -> None:
        raise UnsupportedConstruct("gru", "no such kernel here", layer="gru_2")

    def broken(self) -> None:
        raise ValueError("shapes (2, 3) and (4,) do not align")

    def unpicklable(self) -> Any:
        return lambda: None


def _build(payload: dict[str, Any]) -> _Session:
    if payload.get("scale") == 0:
        raise UnsupportedConstruct("distribution", "zero replicas")
    return _Session(**payload)


@pytest.fixture
def driver() -> Any:
    here, there = Pipe()
    thread = threading.Thread(target=replica_wire.serve, args=(there, _build), daemon=True)
    thread.start()

    def ask(op: str, payload: Any) -> Any:
        here.send((op, payload))
        return replica_wire.value(here.recv(), "replica 0")

    yield ask
    here.send(("close", None))
    thread.join(timeout=5)
    assert not thread.is_alive(), "serve() did not return on close"


def test_build_then_calls(driver: Any) -> None:
    assert driver("build", {"scale": 3.0}) is None
    assert driver("call", ("times", (2.0,), {})) == 6.0
    assert driver("build", {"scale": 0.5}) is None  # a new session replaces the old one
    assert driver("call", ("times", (), {"x": 4.0})) == 2.0


def test_exceptions_cross_as_themselves(driver: Any) -> None:
    driver("build", {"scale": 1.0})
    with pytest.raises(NonFiniteError) as nonfinite:
        driver("call", ("step", (), {}))
    assert nonfinite.value.quantity == "gradient of dense.weight"
    with pytest.raises(UnsupportedConstruct) as unsupported:
        driver("call", ("layer", (), {}))
    assert (unsupported.value.construct, unsupported.value.reason, unsupported.value.layer) == (
        "gru", "no such kernel here", "gru_2")
    with pytest.raises(RuntimeError, match=r"^replica 0: ValueError: shapes \(2, 3\) and \(4,\) do not align"):
        driver("call", ("broken", (), {}))
    assert driver("call", ("times", (5.0,), {})) == 5.0  # the loop goes on after each


def test_a_build_that_fails_is_said(driver: Any) -> None:
    with pytest.raises(UnsupportedConstruct, match="zero replicas"):
        driver("build", {"scale": 0})


def test_serve_returns_when_the_driver_goes_away() -> None:
    here, there = Pipe()
    thread = threading.Thread(target=replica_wire.serve, args=(there, _build), daemon=True)
    thread.start()
    here.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


class _Slow(_Session):
    """A session whose call outlasts its driver: the driver is killed while the replica computes."""

    def __init__(self, scale: float, gate: threading.Event) -> None:
        super().__init__(scale)
        self.gate = gate

    def wait(self) -> float:
        self.gate.wait(5)
        return self.scale


def test_a_driver_gone_mid_command_ends_the_loop_quietly() -> None:
    """The answer to a command whose driver was killed meanwhile meets a broken pipe: serve returns (the replica
    exits) instead of raising BrokenPipeError, whose traceback the replica printed on the driver's terminal."""
    gate = threading.Event()
    here, there = Pipe()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            replica_wire.serve(there, lambda payload: _Slow(payload["scale"], gate))
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    here.send(("build", {"scale": 2.0}))
    assert replica_wire.value(here.recv(), "replica 0") is None
    here.send(("call", ("wait", (), {})))
    here.close()
    gate.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and errors == [], f"serve() raised {errors!r} for a driver that went away"
    assert replica_wire.answer(there, ("ok", None)) is False


def test_a_value_that_does_not_pickle_is_an_error_the_driver_hears(driver: Any) -> None:
    driver("build", {"scale": 1.0})
    with pytest.raises(RuntimeError, match=r"^replica 0: .*(pickle|Pickl)"):
        driver("call", ("unpicklable", (), {}))
    assert driver("call", ("times", (3.0,), {})) == 3.0


def test_an_answer_to_a_closed_connection_is_false_at_once() -> None:
    """A send error other than a broken pipe (a closed handle) was answered as a value that would not pickle,
    whose answer failed the same way: a RecursionError after 39 s and 989 chained exceptions."""
    import time

    _here, there = Pipe()
    there.close()
    t0 = time.monotonic()
    assert replica_wire.answer(there, ("ok", 1)) is False
    assert time.monotonic() - t0 < 1
