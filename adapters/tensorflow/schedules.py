"""Learning rate per optimizer step as a Keras `LearningRateSchedule` the optimizer evaluates in-graph.

Keras optimizers already evaluate a schedule once per optimizer iteration (the standard's cadence),
from their own `iterations` counter, so set_optimizer_state's step restores the schedule too. Keras's
built-in schedules do not fit: they compute in float32 (the global floatx; a float64 run would see a
learning rate off in the 8th digit), CosineDecay's warm-up starts from `initial_learning_rate` rather
than base·start_factor, and only CosineDecay has a warm-up at all. `StandardSchedule` is therefore a
LearningRateSchedule subclass that evaluates the reference's own formulas (reference/schedules/, written in
the arithmetic of reference/schedules/_ops.py) on float64 tensors (`TF_OPS`): every schedule's formula is
stated once, there, and this file only says how TensorFlow spells the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from lockstep.reference import schedules as ref_schedules

if TYPE_CHECKING:
    from lockstep.spec.schedules import Schedule


class TFOps:
    """reference/schedules/_ops.py's arithmetic on float64 tensors, inside the optimizer's graph."""

    cos = staticmethod(tf.cos)
    minimum = staticmethod(tf.minimum)
    maximum = staticmethod(tf.maximum)
    floor = staticmethod(tf.floor)

    @staticmethod
    def power(base: float, exponent: tf.Tensor) -> tf.Tensor:
        return tf.pow(tf.constant(base, tf.float64), exponent)

    @staticmethod
    def constant(value: float) -> tf.Tensor:
        return tf.constant(value, tf.float64)

    @staticmethod
    def select(condition: tf.Tensor, then: Callable[[], Any], otherwise: Callable[[], Any]) -> tf.Tensor:
        return tf.where(condition, then(), otherwise())


TF_OPS = TFOps()

REFERENCE_FORMULA = "the reference's formula (reference/schedules/) on float64 tensors (TF_OPS)"
SCHEDULES: dict[str, str] = {"constant": REFERENCE_FORMULA, "step": REFERENCE_FORMULA,
                             "exponential": REFERENCE_FORMULA, "cosine": REFERENCE_FORMULA,
                             "warmup": REFERENCE_FORMULA}
"""How each schedule (and the warm-up) maps: all through `StandardSchedule`, the reference's formula in-graph."""


class StandardSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr(t) of the spec schedule (warm-up first) at optimizer step t = `iterations` (0-based), float64."""

    def __init__(self, schedule: Schedule, base: float) -> None:
        for name in (schedule.type, *(("warmup",) if schedule.warmup is not None else ())):
            if name not in SCHEDULES:
                raise KeyError(f"no TensorFlow mapping for schedule `{name}`")
        self.schedule = schedule
        self.base = float(base)

    def __call__(self, step):
        return ref_schedules.learning_rate(self.schedule, self.base, tf.cast(step, tf.float64), ops=TF_OPS)

    def get_config(self) -> dict:
        return {"schedule": self.schedule.model_dump(mode="json"), "base": self.base}
