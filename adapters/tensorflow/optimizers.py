"""Spec optimizers as subclasses of the native Keras optimizers, with the standard's update rules.

The standard states its optimizers in PyTorch's formulation, and every Keras optimizer differs in at
least one place, so each is a documented subclass that keeps Keras's machinery (its state variables
and their names, `iterations`, learning-rate schedule, AdamW's decoupled decay, in-graph application)
and overrides only `update_step`:

- SGD: Keras keeps `v = μv - lr·g` (learning rate inside the buffer, no dampening, first buffer
  -lr·g); the standard's buffer is `b₁ = g`, `b = μb + (1 - d)g`, `w -= lr·b` (Nesterov: `g + μb`).
- Adam/AdamW: Keras adds ε to √v before the bias correction of the step size
  (`lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m/(√v + ε)`); the standard adds it after: `lr·m̂/(√v̂ + ε)`. Keras's
  default ε is 1e-7; the spec's value is always passed. AdamW's decoupled decay `w -= lr·wd·w`
  before the step is Keras's rule and the standard's (re-done only to keep the decay in float64).
- RMSprop: Keras puts ε inside the root and the learning rate inside the momentum buffer, and
  defaults ρ to 0.9; the standard has `den = √v + ε` (centered: `√(v - a²) + ε`), `b = μb + g/den`,
  `w -= lr·b`, and the spec's ρ is always passed.
- Adagrad: Keras puts ε inside the root (`√(s + ε)`) and starts the accumulator at 0.1; the standard
  divides by `√s + ε` and the spec's initial value is always passed.

Scalars that depend only on the step (bias corrections) are computed in float64 and cast, as PyTorch
computes them in Python floats (and never through `keras.ops.cast` of a Python float, which rounds it
to float32 first). Coupled L2 is not Keras's `weight_decay` (which is decoupled): the
session adds l2·w to the gradient after clipping, as the standard says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
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


class StandardSGD(keras.optimizers.SGD):
    """SGD with PyTorch's momentum buffer (dampening, first step b = g, Nesterov on the buffer)."""

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


class _StandardAdamStep:
    """The standard's Adam step: ε added to the bias-corrected root."""

    beta_1: float
    beta_2: float
    epsilon: float
    amsgrad: bool

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype
        lr = ops.cast(learning_rate, dt)
        g = ops.cast(gradient, dt)
        t = tf.cast(self.iterations + 1, tf.float64)  # type: ignore[attr-defined]
        bc1 = tf.cast(1 - tf.pow(tf.constant(self.beta_1, tf.float64), t), dt)
        bc2 = tf.cast(1 - tf.pow(tf.constant(self.beta_2, tf.float64), t), dt)
        i = self._get_variable_index(variable)  # type: ignore[attr-defined]
        m, v = self._momentums[i], self._velocities[i]  # type: ignore[attr-defined]
        self.assign(m, self.beta_1 * m + (1 - self.beta_1) * g)  # type: ignore[attr-defined]
        self.assign(v, self.beta_2 * v + (1 - self.beta_2) * g * g)  # type: ignore[attr-defined]
        if self.amsgrad:
            v_hat = self._velocity_hats[i]  # type: ignore[attr-defined]
            self.assign(v_hat, ops.maximum(v_hat, v))  # type: ignore[attr-defined]
            v = v_hat
        self.assign_sub(variable, lr * (m / bc1) / (ops.sqrt(v / bc2) + self.epsilon))  # type: ignore[attr-defined]


class StandardAdam(_StandardAdamStep, keras.optimizers.Adam):
    """Adam with ε outside the bias-corrected root (PyTorch's placement)."""


class StandardAdamW(_StandardAdamStep, keras.optimizers.AdamW):
    """AdamW: Keras's decoupled decay (w -= lr·wd·w first), then the standard's Adam step.

    Keras's `_apply_weight_decay` casts the Python decay to float32 (`tf.cast` of a Python float) before
    multiplying float64 variables; this one is the same update with the decay in the variable's dtype."""

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None:
            return
        lr = self.learning_rate
        for variable in variables:
            v = variable.value if isinstance(variable, keras.Variable) else variable
            if self._use_weight_decay(variable):
                decay = tf.cast(lr, v.dtype) * tf.constant(self.weight_decay, v.dtype)
                v.assign_sub(v * decay)


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
            den = ops.sqrt(v - a * a) + self.epsilon
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
    "sgd": lambda opt, lr: StandardSGD(lr, opt.momentum, opt.dampening, opt.nesterov),
    "adam": lambda opt, lr: StandardAdam(learning_rate=lr, beta_1=opt.beta1, beta_2=opt.beta2, epsilon=opt.epsilon,
                                         amsgrad=opt.amsgrad),
    "adamw": lambda opt, lr: StandardAdamW(learning_rate=lr, weight_decay=opt.weight_decay, beta_1=opt.beta1,
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
