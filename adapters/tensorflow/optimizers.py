"""Spec optimizers on Keras's own optimizers where a stated parameter mapping reaches the standard's numbers,
and documented subclasses that write the update where none does (docs/adapters/tensorflow.md, "Optimizers").

The standard states its optimizers in PyTorch's formulation. Decided one by one, each with a float64 test
against the reference (tests/test_provenance.py):

- SGD without momentum: `keras.optimizers.SGD` as it is (w -= lr·g): native.
- Adam / AdamW: `keras.optimizers.Adam` / `AdamW` running their own `update_step`, bridged. Keras computes
  `w -= α·m/(√v + ε)` with `α = lr·√(1-β₂ᵗ)/(1-β₁ᵗ)`; the standard's `w -= lr·m̂/(√v̂ + ε)` is the same
  expression with ε̂ = ε·√(1-β₂ᵗ) in Keras's place, so each step hands Keras ε̂ (float64, then the variable's
  dtype). Keras's α comes from `ops.cast(β, dtype)` raised to t in the variable's dtype: in float32 (and for
  a Python β, also in float64, since `ops.cast` of a Python float goes through float32) 1 - β₂ᵗ is off by
  1.3e-5 relative at β₂ = 0.999, t = 1. The learning rate handed to Keras's update_step therefore carries
  the ratio of the standard's bias corrections (float64) to Keras's own (recomputed with Keras's ops), so
  Keras's α lands on the standard's to a few roundings. AdamW's decoupled decay is Keras's own
  `_apply_weight_decay` (w -= w·wd·lr, before the step, the standard's order), the decay a float64 scalar in
  float64 runs. m, v and v_max are Keras's own state variables and mean what the standard's do.
- SGD with momentum: no mapping. Keras keeps `v = μv - lr·g` (the learning rate inside the buffer, no
  dampening, first buffer -lr·g); equal to the standard's -lr·b only for a constant rate and dampening 0,
  so a schedule would change past steps' weight. `StandardSGD.update_step` writes `b₁ = g`,
  `b = μb + (1 - d)g`, `w -= lr·b` (Nesterov `g + μb`).
- RMSprop: no mapping. Keras divides by `√(v + ε)` (ε inside the root: no scalar ε̂ gives `√v + ε` for
  every v) and keeps the learning rate inside the momentum buffer. `StandardRMSprop.update_step` writes
  `den = √v + ε` (centered `√max(v - a², 0) + ε`), `b = μb + g/den`, `w -= lr·b`.
- Adagrad: no mapping. Keras divides by `√(s + ε)` (ε inside the root again) and its Constant initializer
  rounds the initial accumulator through float32. `StandardAdagrad` writes `w -= lr·g/(√s + ε)`.

Python constants Keras casts through float32 in a float64 run (`ops.cast`/`tf.cast` of a Python float
converts it to a float32 tensor first): β₁, β₂ (Adam's `ops.cast(self.beta_1, dtype)`) and the weight
decay (`tf.cast(self.weight_decay, dtype)`). `build` replaces them by float64 NumPy scalars in float64 runs,
which cast exactly (in float32 runs they stay Python floats: a NumPy float64 would promote Keras's float32
arithmetic to float64). Coupled L2 is not Keras's `weight_decay` (which is decoupled): the session adds l2·w
to the gradient after clipping, as the standard says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

if TYPE_CHECKING:
    from keras.optimizers.schedules import LearningRateSchedule

    from lockstep.spec.optimizers import Optimizer

# canonical state name -> the Keras attribute holding that state, one variable per model variable
STATE = {
    "sgd": {"momentum_buffer": "momentums"},
    "adam": {"exp_avg": "_momentums", "exp_avg_sq": "_velocities", "max_exp_avg_sq": "_velocity_hats"},
    "rmsprop": {"square_avg": "_velocities", "grad_avg": "_average_gradients", "momentum_buffer": "_momentums"},
    "adagrad": {"sum": "_accumulators"},
}
STATE["adamw"] = STATE["adam"]


def _float64_constants(optimizer: Any, var_list: list[Any], names: tuple[str, ...]) -> None:
    """In a float64 run, the Python constants Keras would cast through float32 become float64 NumPy scalars."""
    if var_list and tf.as_dtype(var_list[0].dtype) == tf.float64:
        for name in names:
            value = getattr(optimizer, name, None)
            if isinstance(value, float):
                setattr(optimizer, name, np.float64(value))


class KerasSGD(keras.optimizers.SGD):
    """keras.optimizers.SGD without momentum, untouched (w -= lr·g): only the class name says so."""


class StandardSGD(keras.optimizers.SGD):
    """SGD with momentum: PyTorch's buffer (dampening, first step b = g, Nesterov on the buffer), written."""

    def __init__(self, learning_rate, momentum: float, dampening: float, nesterov: bool) -> None:
        super().__init__(learning_rate=learning_rate, momentum=float(momentum), nesterov=nesterov)
        self.dampening = float(dampening)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            self.assign_sub(variable, lr * g)
            return
        b = self.momentums[self._get_variable_index(variable)]
        new_b = ops.where(ops.equal(self.iterations, 0), g, self.momentum * b + (1 - self.dampening) * g)
        self.assign(b, new_b)
        step = g + self.momentum * new_b if self.nesterov else new_b
        self.assign_sub(variable, lr * step)


def _sgd(opt: Any, lr: Any) -> keras.optimizers.Optimizer:
    if opt.momentum == 0:
        return KerasSGD(learning_rate=lr, momentum=0.0, nesterov=False)
    return StandardSGD(lr, opt.momentum, opt.dampening, opt.nesterov)


class _BridgedAdamStep:
    """Keras's own Adam update_step, handed ε̂ = ε·√(1-β₂ᵗ) and a learning rate whose ratio to the schedule's
    turns Keras's bias corrections into the standard's (see the module docstring)."""

    beta_1: Any
    beta_2: Any
    epsilon: Any
    iterations: Any

    def build(self, var_list):
        if getattr(self, "built", False):
            return
        super().build(var_list)  # type: ignore[misc]
        _float64_constants(self, var_list, ("beta_1", "beta_2", "weight_decay"))

    def _keras_bias_factor(self, dtype: Any) -> Any:
        """√(1-β₂ᵗ)/(1-β₁ᵗ) as keras.optimizers.Adam.update_step computes it (the same ops, in `dtype`)."""
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)
        return ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)

    def apply(self, grads, trainable_variables=None):
        """Keras's apply, with the bridge's scalars computed once for all variables of the step (`_bridge`)."""
        # a plain attribute, past Keras's tracking of what an optimizer holds (it is no state)
        self.__dict__["_bridged"] = None if tf.distribute.has_strategy() else {}
        try:
            return super().apply(grads, trainable_variables)  # type: ignore[misc]
        finally:
            self.__dict__["_bridged"] = None

    def _bridge(self, learning_rate, dt) -> tuple[Any, Any]:
        """(the learning rate handed to Keras, ε̂), both in `dt`. They depend only on `iterations` (which Keras
        advances after every variable's update) and the step's rate, so inside one `apply` they are computed once
        per dtype and reused for every variable: the same values, a fraction of the ops (eagerly, where each op
        costs ~50 µs, and in a traced graph). Not cached under a distribution strategy (replicas' threads)."""
        cache = getattr(self, "_bridged", None)
        key = (id(learning_rate), dt)
        if cache is not None and key in cache:
            return cache[key]
        f64 = tf.float64
        t = tf.cast(self.iterations + 1, f64)
        c1 = 1 - tf.pow(tf.constant(float(self.beta_1), f64), t)
        c2 = 1 - tf.pow(tf.constant(float(self.beta_2), f64), t)
        keras_factor = tf.cast(self._keras_bias_factor(dt), f64)
        lr = tf.cast(learning_rate, f64) * (tf.sqrt(c2) / c1) / keras_factor
        out = (tf.cast(lr, dt), tf.cast(float(self.epsilon) * tf.sqrt(c2), dt))
        if cache is not None:
            cache[key] = out
        return out

    def update_step(self, gradient, variable, learning_rate):
        lr, epsilon_hat = self._bridge(learning_rate, variable.dtype)
        index = self._get_variable_index(variable)  # type: ignore[attr-defined]
        # β = 0: the standard's moment is this step's g (or g²) itself. Keras writes m += (g - m)(1 - β), whose
        # (g - m) + m loses a small g to cancellation after a large m (v = 0 for g² = 1e-4 after 1e6, float32;
        # docs/conformance.md); from a cleared moment it is 0 + (g - 0)·1, g exactly.
        for beta, moments in ((self.beta_1, self._momentums), (self.beta_2, self._velocities)):  # type: ignore[attr-defined]
            if float(beta) == 0.0:
                self.assign(moments[index], ops.zeros_like(moments[index]))  # type: ignore[attr-defined]
        epsilon = self.epsilon
        self.epsilon = epsilon_hat  # ε̂, read by Keras's update_step
        try:
            super().update_step(gradient, variable, lr)  # type: ignore[misc]
        finally:
            self.epsilon = epsilon


class KerasAdam(_BridgedAdamStep, keras.optimizers.Adam):
    """keras.optimizers.Adam's own update_step with ε̂ and the standard's bias corrections (bridged)."""


class KerasAdamW(_BridgedAdamStep, keras.optimizers.AdamW):
    """keras.optimizers.AdamW: Keras's decoupled decay (w -= w·wd·lr, first), then Keras's Adam update_step
    with ε̂ and the standard's bias corrections (bridged); the decay is a float64 scalar in float64 runs."""


class StandardRMSprop(keras.optimizers.RMSprop):
    """RMSprop with ε outside the root and the learning rate outside the momentum buffer."""

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        i = self._get_variable_index(variable)
        v = self._velocities[i]
        rho = self.rho
        self.assign(v, rho * v + (1 - rho) * g * g)
        if self.centered:
            a = self._average_gradients[i]
            self.assign(a, rho * a + (1 - rho) * g)
            den = ops.sqrt(ops.maximum(v - a * a, 0.0)) + self.epsilon  # the standard's clamp: v ≥ a² up to rounding
        else:
            den = ops.sqrt(v) + self.epsilon
        if self.momentum > 0:
            b = self._momentums[i]
            self.assign(b, self.momentum * b + g / den)
            self.assign_sub(variable, lr * b)
        else:
            self.assign_sub(variable, lr * g / den)


class StandardAdagrad(keras.optimizers.Adagrad):
    """Adagrad dividing by √s + ε (ε outside the root), its accumulators starting exactly at the spec's value
    (Keras's Constant initializer rounds it through float32)."""

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for acc in self._accumulators:
            acc.assign(tf.fill(acc.shape, tf.constant(self.initial_accumulator_value, acc.dtype)))

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        s = self._accumulators[self._get_variable_index(variable)]
        self.assign_add(s, g * g)
        self.assign_sub(variable, lr * g / (ops.sqrt(s) + self.epsilon))


OPTIMIZERS: dict[str, Callable[[Any, Any], keras.optimizers.Optimizer]] = {
    "sgd": _sgd,
    "adam": lambda opt, lr: KerasAdam(learning_rate=lr, beta_1=opt.beta1, beta_2=opt.beta2, epsilon=opt.epsilon,
                                         amsgrad=opt.amsgrad),
    "adamw": lambda opt, lr: KerasAdamW(learning_rate=lr, weight_decay=opt.weight_decay, beta_1=opt.beta1,
                                           beta_2=opt.beta2, epsilon=opt.epsilon, amsgrad=opt.amsgrad),
    "rmsprop": lambda opt, lr: StandardRMSprop(learning_rate=lr, rho=opt.rho, momentum=opt.momentum,
                                               epsilon=opt.epsilon, centered=opt.centered),
    "adagrad": lambda opt, lr: StandardAdagrad(learning_rate=lr, epsilon=opt.epsilon,
                                               initial_accumulator_value=opt.initial_accumulator_value),
}
"""Each spec optimizer's Keras mapping, by name: `fn(opt, learning-rate schedule) -> keras optimizer`."""


def build(opt: Optimizer, learning_rate: LearningRateSchedule) -> keras.optimizers.Optimizer:
    """The Keras optimizer for a spec optimizer; `learning_rate` is a schedule (see schedules.py)."""
    if opt.type not in OPTIMIZERS:
        raise KeyError(f"no TensorFlow mapping for optimizer `{opt.type}`")
    return OPTIMIZERS[opt.type](opt, learning_rate)


def coupled_l2(grads: list[Any], variables: list[Any], l2: float) -> list[Any]:
    """g ← g + l2·w for every trainable variable, in the compiled step after clipping (adapters/tensorflow/
    clipping.py): the standard's coupled L2 (Keras's `weight_decay` is the decoupled rule)."""
    return [g + l2 * v.value for g, v in zip(grads, variables, strict=True)]


REGULARIZATION: dict[str, Callable[[list[Any], list[Any], float], list[Any]]] = {"l2": coupled_l2}
"""Each spec regularization's TensorFlow mapping, by name."""


def state_variables(optimizer: keras.optimizers.Optimizer, kind: str, variable: Any) -> dict[str, Any]:
    """{canonical state name: the Keras state variable of `variable`} for the states this optimizer keeps."""
    i = optimizer._get_variable_index(variable)
    out = {}
    for canonical, attr in STATE[kind].items():
        held = getattr(optimizer, attr, None)
        if held:
            out[canonical] = held[i]
    return out
