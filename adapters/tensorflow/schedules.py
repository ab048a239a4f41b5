"""Learning rate per optimizer step as a Keras `LearningRateSchedule` the optimizer evaluates in-graph.

Keras optimizers already evaluate a schedule once per optimizer iteration (the standard's cadence),
from their own `iterations` counter, so set_optimizer_state's step restores the schedule too. Keras's
built-in schedules do not fit: they compute in float32 (the global floatx; a float64 run would see a
learning rate off in the 8th digit), CosineDecay's warm-up starts from `initial_learning_rate` rather
than base·start_factor, and only CosineDecay has a warm-up at all. `StandardSchedule` is therefore a
LearningRateSchedule subclass with the standard's closed forms, computed in float64.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
import tensorflow as tf

if TYPE_CHECKING:
    from lockstep.spec.schedules import Schedule


class StandardSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr(t) of the spec schedule (warm-up first) at optimizer step t = `iterations` (0-based), float64."""

    def __init__(self, schedule: Schedule, base: float) -> None:
        self.schedule = schedule
        self.base = float(base)

    def __call__(self, step):
        t = tf.cast(step, tf.float64)
        w = self.schedule.warmup
        if w is None:
            return self._after_warmup(t)
        warm = self.base * (w.start_factor + (1 - w.start_factor) * t / w.steps)
        return tf.where(t < w.steps, warm, self._after_warmup(tf.maximum(t - w.steps, 0.0)))

    def _after_warmup(self, t: tf.Tensor) -> tf.Tensor:
        s, base = self.schedule, self.base
        if s.type == "constant":
            return tf.constant(base, tf.float64)
        if s.type == "step":
            return base * tf.pow(tf.constant(s.gamma, tf.float64), tf.floor(t / s.step_size))
        if s.type == "exponential":
            return base * tf.pow(tf.constant(s.gamma, tf.float64), t)
        lo, big_t = s.min_learning_rate, s.decay_steps
        return lo + (base - lo) * (1 + tf.cos(math.pi * tf.minimum(t, big_t) / big_t)) / 2

    def get_config(self) -> dict:
        return {"schedule": self.schedule.model_dump(mode="json"), "base": self.base}
