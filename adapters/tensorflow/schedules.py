"""Learning rate per optimizer step as a Keras `LearningRateSchedule` the optimizer evaluates in-graph, on Keras's
own schedule classes where they have the standard's formula (docs/adapters/tensorflow.md, "Schedules").

Keras optimizers evaluate a schedule once per optimizer iteration (the standard's cadence), from their own
`iterations` counter, so set_optimizer_state's step restores the schedule too. Keras's schedules compute in
the dtype of `initial_learning_rate` after `ops.convert_to_tensor`, and cast their other constants to it:
a Python float there is float32 (floatx), and `ops.cast` of a Python float goes through float32 even towards
float64, so every constant is handed over as a float64 NumPy scalar and the schedule computes in float64.

| spec | Keras | provenance |
| --- | --- | --- |
| step | ExponentialDecay(base, step_size, γ, staircase=True) | native |
| exponential | ExponentialDecay(base, 1, γ) | native |
| cosine | CosineDecay(base, T, alpha=min/base): Keras's floor is a fraction of the rate | bridged |
| cosine + warm-up | CosineDecay(base·f, T, alpha, warmup_target=base, warmup_steps=W) | bridged |
| constant | a float64 constant (a float rate would be a float32 variable) | written |
| other warm-ups | the reference's warm-up factor on float64 tensors, then the schedule at t - W | written |

`StandardSchedule(schedule, base)` is what the session holds: it calls the schedule above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from lockstep.reference import schedules as ref_schedules
from lockstep.reference.schedules import warmup as ref_warmup

if TYPE_CHECKING:
    from lockstep.spec.schedules import Schedule


class TFOps:
    """reference/schedules/_ops.py's arithmetic on float64 tensors, inside the optimizer's graph."""

    sin = staticmethod(tf.sin)
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

def _f64(x: float) -> np.float64:
    return np.float64(x)


class ConstantRate(keras.optimizers.schedules.LearningRateSchedule):
    """lr(t) = base in float64 (written: Keras has no constant schedule, and a float rate is a float32 variable)."""

    def __init__(self, base: float) -> None:
        self.base = float(base)

    def __call__(self, step):
        return ref_schedules.get("constant").learning_rate(None, self.base, step, ops=TF_OPS)

    def get_config(self) -> dict:
        return {"base": self.base}


class WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """The standard's warm-up (its factor from reference/schedules/warmup.py, on float64 tensors) for t < W, then
    `main` (a Keras schedule) at t - W: written, since only CosineDecay has a warm-up in Keras."""

    def __init__(self, warmup: Any, base: float, main: Any) -> None:
        self.warmup, self.base, self.main = warmup, float(base), main

    def __call__(self, step):
        t = tf.cast(step, tf.float64)
        w = self.warmup
        return tf.where(t < w.steps, self.base * ref_warmup.factor(w, t),
                        tf.cast(self.main(tf.maximum(t - w.steps, 0.0)), tf.float64))

    def get_config(self) -> dict:
        return {"warmup": self.warmup.model_dump(mode="json"), "base": self.base}


def _cosine(schedule: Any, base: float) -> Any:
    alpha = schedule.min_learning_rate / base
    w = schedule.warmup
    if w is None:
        return keras.optimizers.schedules.CosineDecay(_f64(base), schedule.decay_steps, alpha=_f64(alpha))
    return keras.optimizers.schedules.CosineDecay(_f64(base * w.start_factor), schedule.decay_steps,
                                                  alpha=_f64(alpha), warmup_target=_f64(base),
                                                  warmup_steps=w.steps)


SCHEDULES: dict[str, Callable[[Any, float], Any]] = {
    "constant": lambda s, base: ConstantRate(base),
    "step": lambda s, base: keras.optimizers.schedules.ExponentialDecay(_f64(base), s.step_size, _f64(s.gamma),
                                                                        staircase=True),
    "exponential": lambda s, base: keras.optimizers.schedules.ExponentialDecay(_f64(base), 1, _f64(s.gamma)),
    "cosine": _cosine,
    "warmup": lambda s, base: WarmupThen(s.warmup, base, SCHEDULES[s.type](s.model_copy(update={"warmup": None}),
                                                                           base)),
}
"""Each schedule's (and the warm-up's) Keras schedule, by spec name: `fn(schedule, base) -> LearningRateSchedule`.
A schedule with a warm-up is `warmup`'s, except cosine, whose CosineDecay carries the warm-up itself."""


def build(schedule: Schedule, base: float) -> keras.optimizers.schedules.LearningRateSchedule:
    """The Keras schedule of a spec schedule (its warm-up included) at base rate `base`."""
    for name in (schedule.type, *(("warmup",) if schedule.warmup is not None else ())):
        if name not in SCHEDULES:
            raise KeyError(f"no TensorFlow mapping for schedule `{name}`")
    if schedule.warmup is not None and schedule.type != "cosine":
        return SCHEDULES["warmup"](schedule, base)
    return SCHEDULES[schedule.type](schedule, base)


class StandardSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr(t) of the spec schedule (warm-up first) at optimizer step t = `iterations` (0-based), float64: the
    schedule `build` maps it to, called with the optimizer's step."""

    def __init__(self, schedule: Schedule, base: float) -> None:
        self.schedule = schedule
        self.base = float(base)
        self.native = build(schedule, self.base)
        self._held: tuple[Any, Any] | None = None  # (step, rate) while `held` is active

    @contextmanager
    def held(self, step: Any, rate: Any) -> Iterator[None]:
        """Inside, a call with the step variable `step` returns `rate`, already computed for it: the session
        computes the step's rate to report it, then Keras's `apply` asks for it again (and AdamW's weight decay
        once per variable); `iterations` moves only at the end of `apply`, so it is the same value, computed once
        (eagerly a Keras schedule is some 20 ops). Only for the duration of one step's `apply`."""
        self._held = (step, rate)
        try:
            yield
        finally:
            self._held = None

    def __call__(self, step):
        """The rate at `step`: inside `held` (one step's `apply`, traced or eager) the rate the session computed for
        it, else computed."""
        if self._held is not None and self._held[0] is step:
            return self._held[1]
        return tf.cast(self.native(step), tf.float64)

    def get_config(self) -> dict:
        return {"schedule": self.schedule.model_dump(mode="json"), "base": self.base}
