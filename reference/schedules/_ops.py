"""The arithmetic a schedule's formula is written in, so that each formula is stated once.

The reference evaluates a learning rate with Python floats (`SCALAR`: t an int, the results floats); an adapter
that computes the schedule inside its framework's graph passes its own namespace with the same six names
(adapters/tensorflow/schedules.py's `TF_OPS`: float64 tensors), and so evaluates the reference's formula, not a
restatement of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class ScalarOps:
    """Python floats: the reference's own evaluation of every schedule."""

    sin = staticmethod(math.sin)
    minimum = staticmethod(min)
    maximum = staticmethod(max)
    floor = staticmethod(math.floor)

    @staticmethod
    def power(base: float, exponent: Any) -> Any:
        return base**exponent

    @staticmethod
    def constant(value: float) -> float:
        return float(value)

    @staticmethod
    def select(condition: Any, then: Callable[[], Any], otherwise: Callable[[], Any]) -> Any:
        """`then()` where `condition` holds, else `otherwise()` (a graph evaluates both and selects)."""
        return then() if condition else otherwise()


SCALAR = ScalarOps()
