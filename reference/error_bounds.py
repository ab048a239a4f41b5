"""Per-quantity error bounds of a whole model: the magnitude pass of docs/spec/v1-semantics.md § Tolerances.

A float32 backend is compared with the float64 reference under |a − r| ≤ rtol·|r| + atol elementwise,
rtol = 2u, atol = (γ_n(u) + γ_n(2⁻⁵³))·M (+ n·λ, see `UNDERFLOW`): n the quantity's effective length
(`reference.tolerances`: lengths add along the longest input→output path, `loss_length`, `gradient_length`),
M its magnitude, an array shaped like the quantity. This module computes both for a model's output(s), its
loss and every parameter gradient, from one reference forward (whose caches it reuses) and the layers'
`magnitude` / `magnitude_backward` rules (reference/layers/_magnitude.py states the contract).

API:

    model_bounds(model, params, x, *, training, masks=None, loss=None, y=None, dtype="float32") -> Bounds
        model: a spec Model or a ReferenceModel; params: parameters and buffers by canonical name (not
        modified: batch-norm statistics are updated on a copy); x: an array, or a dict for several inputs
        (int64 for embeddings); masks: dropout keep-masks by layer name (training); loss + y: the loss spec
        and its targets, needed for the loss and gradient bounds; dtype: the backend's precision (its
        underflow threshold enters the magnitudes).
    Bounds(outputs: dict[str, Bound], loss: Bound | None, gradients: dict[str, Bound], buffers: dict[str, Bound])
        buffers (training only): the batch-norm running statistics after the forward;
        .output: the single output's Bound; .scale(kind): the largest M of a kind ("output", "loss",
        "gradient"); .gradient_tolerances(dtype): every gradient's Tolerance (float64: the kind's scale).
    Bound(quantity, length, magnitude, peak, dtype)
        .tolerance(dtype, scale=None) -> reference.tolerances.Tolerance. float32: the derived elementwise
        rule (atol an array; infinite where the quantity is not representable). float64: the fixed rule
        rtol = 1e-10, atol = max(1e-12, 2γ_n(2⁻⁵³))·s with s = `scale` if given (the doc's kind scale: the
        largest |r| among the reference tensors of that kind), else this bound's largest M.
        .representable(dtype): False where a magnitude on the quantity's paths exceeds the dtype's largest
        number, or a loss from probabilities is within its error bound of log 0 or 1/0, or a gradient's path
        crosses a layer whose backward a backend may compute beyond first order (`backward_first_order`:
        attention's scores so large that their rounding, exponentiated, is not 1 + that rounding): float32 may
        then return inf or nan, and the first-order bound says nothing (compare such a quantity with nothing).

In float32 the loss's M is the smaller of the magnitude pass's and the adjoint form's (`_Adjoint`: each node's own
rounding weighed by the reference's ∂L/∂q), where that form applies.

The bounds are first order in u. A value within its own error bound of a kink (relu's and leaky_relu's 0,
elu's 0 with α ≠ 1, a max-pool's near-tie, mae's d = 0) can take the other branch in float32 and move a
gradient by O(|g|), not O(u): each such kink's layer or loss says how much (`branch_error`), and `_Branches`
carries it back into the parameter gradients' `Bound.branches`, an absolute term of atol. A value exactly
on a kink takes the standard's branch in every backend (exact ties, relu'(0) = 0), so it adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np

from lockstep.reference import layers as ref_layers
from lockstep.reference import losses as ref_losses
from lockstep.reference.model import ReferenceModel
from lockstep.reference.tolerances import (
    UNIT_ROUNDOFF,
    Tolerance,
    backward_excess,
    batch_length,
    construct_rule,
    gamma,
    gradient_length,
    layer_length,
    loss_length,
    loss_magnitude,
    tolerance,
    underflow,
    unit_roundoff,
)
from lockstep.spec.documents import Model

Arrays = dict[str, np.ndarray]

UNDERFLOW = {"float32": underflow("float32"), "float64": underflow("float64")}
"""λ, the smallest normal number: below it a rounding is absolute (≤ λ with flush-to-zero, as GPU kernels
may do), not relative, so atol gets n·λ. It only matters for values near underflow (softmax of logits
that differ by ≳ 87 gives e^(x−m) in float32's subnormal range)."""

@dataclass
class Bound:
    """One quantity's effective length n and elementwise magnitude M (the same shape as the quantity).

    `peak` is the largest magnitude on any path into the quantity: float32 values stay below their
    magnitudes, so no intermediate can overflow while peak is finite in the dtype; beyond that the bound
    says nothing and `tolerance` is infinite (`representable` is False). `branches` is added to float32's atol."""

    quantity: str  # "output", "loss" or "gradient" (reference.tolerances.QUANTITIES)
    length: int
    magnitude: np.ndarray
    peak: float = 0.0
    dtype: str = "float32"  # the dtype whose underflow floor the magnitudes carry
    branches: np.ndarray | float = 0.0  # float32: what a near-kink's other branch may add, absolute (`_Branches`)

    def representable(self, dtype: str) -> bool:
        """Whether every magnitude on the quantity's paths is below `dtype`'s largest finite number."""
        return bool(self.peak < float(np.finfo(np.dtype(dtype)).max))

    def tolerance(self, dtype: str, scale: float | None = None) -> Tolerance:
        """float32: rtol = 2u, atol = (γ_n(u) + γ_n(2⁻⁵³))·M + n·λ, elementwise; float64: the fixed rule."""
        if dtype == "float64":
            s = float(np.max(self.magnitude, initial=0.0)) if scale is None else float(scale)
            return tolerance(self.quantity, "float64", self.length, s)
        if dtype != self.dtype:
            raise ValueError(f"these bounds carry {self.dtype}'s underflow floor: compute them for {dtype}")
        u = unit_roundoff(dtype)
        n = max(int(self.length), 1)
        if not self.representable(dtype):
            return Tolerance(2.0 * u, np.full(np.shape(self.magnitude), np.inf))
        g = gamma(n, u) + gamma(n, UNIT_ROUNDOFF["float64"])
        return Tolerance(2.0 * u, g * np.asarray(self.magnitude, dtype=np.float64) + n * UNDERFLOW[dtype]
                         + self.branches)


@dataclass
class Bounds:
    """The bounds of one forward (and, with a loss, one backward) of a model on one batch."""

    outputs: dict[str, Bound]
    loss: Bound | None = None
    gradients: dict[str, Bound] = field(default_factory=dict)
    buffers: dict[str, Bound] = field(default_factory=dict)  # training: batch-norm running statistics after it

    @property
    def output(self) -> Bound:
        """The bound of the model's only output."""
        if len(self.outputs) != 1:
            raise ValueError(f"the model has outputs {sorted(self.outputs)}: use `outputs[name]`")
        return next(iter(self.outputs.values()))

    def scale(self, kind: str) -> float:
        """The largest magnitude among all bounds of a kind ("output", "loss", "gradient")."""
        group = {"output": list(self.outputs.values()), "gradient": list(self.gradients.values()),
                 "loss": [self.loss] if self.loss is not None else []}[kind]
        return max((float(np.max(b.magnitude, initial=0.0)) for b in group), default=0.0)

    def gradient_tolerances(self, dtype: str) -> dict[str, Tolerance]:
        """Every parameter gradient's tolerance; float64 uses the gradients' common scale."""
        s = self.scale("gradient") if dtype == "float64" else None
        return {k: b.tolerance(dtype, s) for k, b in self.gradients.items()}


def model_bounds(model: Model | ReferenceModel, params: Arrays, x: np.ndarray | Arrays, *, training: bool,
                 masks: Arrays | None = None, loss: object | None = None, y: np.ndarray | None = None,
                 dtype: str = "float32", reuse: bool = False) -> Bounds:
    """n and M of the output(s), and with `loss` and `y` of the loss and of every parameter gradient.

    `dtype` sets the underflow floor λ/u that every nonzero magnitude carries (see `floored`). `reuse`: `model`
    is a ReferenceModel whose last forward and backward were exactly this batch at these parameters with this
    loss (a reference session's training step just ran them): its values, caches and output gradients are
    taken instead of computed again."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite: not representable
        return _model_bounds(model, params, x, training=training, masks=masks, loss=loss, y=y, dtype=dtype,
                             reuse=reuse)


def _model_bounds(model: Model | ReferenceModel, params: Arrays, x: np.ndarray | Arrays, *, training: bool,
                  masks: Arrays | None, loss: object | None, y: np.ndarray | None, dtype: str,
                  reuse: bool = False) -> Bounds:
    net = model if isinstance(model, ReferenceModel) else ReferenceModel(model)
    reuse = reuse and isinstance(model, ReferenceModel) and bool(net.last_values) and bool(net.output_gradients)
    floor = UNDERFLOW[dtype] / unit_roundoff(dtype)
    if reuse:
        values: Arrays = dict(net.last_values)
    else:
        buffers = {k: np.array(params[k], dtype=np.float64) for k in net.buffer_specs}  # training updates a copy
        values = dict(net.forward_with_intermediates(x, params, buffers, training=training, masks=masks))
    inputs = x if isinstance(x, dict) else {net.input_names[0]: x}
    batch = 0
    mags: dict[str, np.ndarray | None] = {}
    lengths: dict[str, int] = {}
    peaks: dict[str, float] = {}
    for name in net.input_names:
        v = np.asarray(inputs[name])
        batch = v.shape[0]
        integer = net.graph.input_dtypes[name] == "int64"
        values[name] = v if integer else v.astype(np.float64)
        mags[name] = None if integer else np.abs(values[name])
        lengths[name], peaks[name] = 0, _peak(mags[name])

    tape = net.tape
    local: dict[str, dict[str, np.ndarray]] = {}  # per node: parameters and buffers by short name
    mag_caches: dict[str, object] = {}
    for node, cache in tape:
        names = {**net.graph.param_names(node),  # tied parameters under their owner's name
                 **{k: f"{node.name}.{k}" for k in node.layer.buffers(node.input_shapes)}}
        p = {k: np.asarray(params[full], dtype=np.float64) for k, full in names.items()}
        local[node.name] = p
        mod = ref_layers.get(node.type)
        a_out, mag_caches[node.name] = mod.magnitude(
            node.layer, [values[i] for i in node.inputs], [mags[i] for i in node.inputs], p, cache)
        mags[node.name] = floored(a_out, floor)
        peaks[node.name] = max(_peak(mags[node.name]), *(peaks[i] for i in node.inputs))
    n = model_lengths(net, batch, training=training, loss=loss)
    lengths.update(n.values)

    outputs = {o: Bound("output", lengths[o], _array(mags[o]), peaks[o], dtype) for o in net.output_names}
    buffer_bounds: dict[str, Bound] = {}
    if training:
        for node, _ in tape:
            if node.type == "batch_norm":
                (src,) = node.inputs
                for short, m in ref_layers.get("batch_norm").magnitude_buffers(
                        node.layer, values[src], _array(mags[src]), local[node.name]).items():
                    m = floored(m, floor)
                    name = f"{node.name}.{short}"
                    buffer_bounds[name] = Bound("parameter", n.buffers[name], m, max(peaks[src], _peak(m)), dtype)
    if loss is None or y is None:
        return Bounds(outputs, buffers=buffer_bounds)
    if len(net.output_names) != 1:
        raise ValueError("a loss needs a model with exactly one output")
    out = net.output_names[0]
    pred, a_pred = values[out], _array(mags[out])
    loss_value, grad = ref_losses.compute(loss, pred, y)  # type: ignore[arg-type]
    own, seed = loss_terms(loss, pred, y, a_pred)
    own, seed = float(floored(np.asarray(own), floor)), floored(seed, floor)
    n_loss = n.loss - n.outputs[out]
    n_out = n.outputs[out]
    loss_m = np.asarray(loss_magnitude(own, grad, a_pred))
    # log p and 1/p are linear to first order only while p's error bound stays below p
    singular = np.inf if near_singularity(loss, pred, y, gamma(n_out, unit_roundoff(dtype)) * a_pred) else 0.0
    loss_bound = Bound("loss", n_out + n_loss, loss_m, max(peaks[out], _peak(loss_m), singular), dtype)

    # (dL/dvalue, its magnitude G, the peak on its paths) per value still to be differentiated
    pending: dict[str, tuple[np.ndarray, np.ndarray, float]] = {
        out: (grad, seed, max(peaks[out], _peak(seed), singular))}
    grads: dict[str, Bound] = {}
    branches = _Branches(net, values, mags, lengths, peaks, dtype)
    branches.loss(loss, out, y, grad)
    adjoint = _Adjoint(net, values, mags, local, n, loss, pred, y, dtype, branches.error)
    for node, cache in reversed(tape):
        if node.name not in pending:
            continue
        g, g_mag, peak = pending.pop(node.name)
        peak = max(peak, peaks[node.name])
        mod = ref_layers.get(node.type)
        first_order = getattr(mod, "backward_first_order", None)
        if first_order is not None and not first_order(node.layer, cache, dtype):
            peak = np.inf  # a backend's backward may form a factor e^E, E ≥ 1: the bounds say nothing beyond it
        if reuse:  # the session's own backward already sent each input its share
            g = net.output_gradients.get(node.name, g)
            d_inputs = [None] if node.type == "embedding" else [0.0] * len(node.inputs)  # as `backward` returns
        else:
            d_inputs, _ = mod.backward(node.layer, g, cache)
        m_inputs, m_params = mod.magnitude_backward(node.layer, g, g_mag, cache, mag_caches[node.name],
                                                    local[node.name])
        branches.backward(node, mod, g, cache, mag_caches[node.name], local[node.name])
        adjoint.node(node, mod, g, cache, peak)
        for short, m in m_params.items():
            m = floored(m, floor)
            name = net.graph.param_names(node)[short]
            if name in grads:  # a tied parameter: the gradients of its uses (and their bounds) add
                m, peak = grads[name].magnitude + m, max(peak, grads[name].peak)
            grads[name] = Bound("gradient", n.gradients[name], m, max(peak, _peak(m)), dtype)
        for src, d, m in zip(node.inputs, d_inputs, m_inputs, strict=True):
            if d is None:
                continue
            m = floored(m, floor)
            if src in pending:  # several consumers: the gradients (and their bounds) add
                d0, m0, p0 = pending[src]
                pending[src] = (d0 + d, m0 + m, max(p0, peak, _peak(m0 + m)))
            else:
                pending[src] = (d, m, max(peak, _peak(m)))
    for name, spec in net.param_specs.items():  # a parameter no loss path reaches has gradient 0, exactly
        grads.setdefault(name, Bound("gradient", n_out, np.zeros(spec.shape), 0.0, dtype))
    for name, e in branches.parameters.items():
        grads[name] = replace(grads[name], branches=e)
    tight = adjoint.magnitude(pending, loss_bound.length)
    if tight is not None and tight < float(loss_m):  # never below |L|: `value_bounds`' M, a lower bound of this one
        loss_bound = replace(loss_bound, magnitude=np.asarray(max(tight, abs(float(loss_value)))))
    return Bounds(outputs, loss_bound, {k: grads[k] for k in net.param_specs}, buffer_bounds)


class _Adjoint:
    """The loss's bound in the adjoint form (docs/spec/v1-semantics.md § Tolerances, "The loss, adjoint form"):
    to first order L̂ − L = Σ_q ∂L/∂q · ε_q + ε_L, ε_q the rounding node q adds given its inputs, within
    γ_{k_q}·own_q (its forward rule with A = |inputs|, k_q its own length), ε_L the loss's own, and a float
    input's rounding u|x|. The magnitude pass's `loss_magnitude` carries every node's error through |W| after
    |W| instead, which compounds each layer's cancellation (a dense layer's Σ|w||x| / |Σ wx|, ×3–5 a layer)
    and charges every rounding the whole path's length: a bound of 1.9e4 on tiny-gpt's first loss of 5.08, where
    this form gives about 1e-3. A kink (relu, leaky_relu, elu, max_pool2d) adds what an input computed on its other side
    moves beyond the form's linear weight (`kink_loss_error`: |g|·e where the input is within its error bound e of
    the kink, e the magnitude pass's bound); the mae loss, or a node whose backward is beyond first order
    (attention's scores, `backward_first_order`), keeps the pass's bound. A layer of several operations says each one's
    own rounding, gradient and length (`own_roundings`), so that its inside does not compound either."""

    CURVED = ("softmax", "log_softmax", "sigmoid", "tanh", "silu", "gelu", "lstm", "gru", "multi_head_attention",
              "layer_norm", "rms_norm", "batch_norm")
    LIMIT = 2.0 ** -10
    """The form is first order: where an exponential's (or a normalization's) input is large enough that its own
    rounding γ_n·|x| is not small, the first-order terms no longer bound the error (e^δ ≠ 1 + δ), and the loose
    pass's bound stays. Below 2⁻¹⁰ the second-order terms are under 2⁻¹⁰ of the first, which the factor 2 on
    the form covers."""

    def __init__(self, net: ReferenceModel, values: Arrays, mags: dict[str, np.ndarray | None],
                 local: dict[str, Arrays], lengths: Lengths, loss: Any, pred: np.ndarray, target: np.ndarray,
                 dtype: str, errors: Callable[[str], np.ndarray]) -> None:
        self.values, self.mags, self.local, self.lengths, self.errors = values, mags, local, lengths, errors
        self.dtype, self.u, self.floor = dtype, unit_roundoff(dtype), UNDERFLOW[dtype] / unit_roundoff(dtype)
        self.usable = dtype != "float64" and getattr(loss, "type", None) != "mae"
        self.error = 0.0  # Σ γ_k·|∂L/∂q|·own_q so far: an absolute bound on the loss's error
        out = max(lengths.outputs.values())
        if self.usable and getattr(loss, "from_logits", False):  # softplus, log-sum-exp of the predictions
            self.usable = gamma(out + 1, self.u) * float(np.max(np.abs(pred), initial=0.0)) <= self.LIMIT
        if self.usable:
            own, _ = loss_terms(loss, pred, target, np.abs(pred))
            n_loss = int(lengths.loss or 0) - out
            self.error = self._share(n_loss, np.ones(()), np.asarray(own))

    def _share(self, k: int, d: np.ndarray, own: np.ndarray) -> float:
        """γ_k·Σ|d|·own: one value's own rounding (within γ_k·own) weighed by the loss's derivative d."""
        return gamma(max(int(k), 1), self.u) * float(np.sum(np.abs(d) * floored(own, self.floor)))

    def node(self, node: Any, mod: ModuleType, g: np.ndarray, cache: object, peak: float) -> None:
        """Add node q's own rounding, weighed by its output's gradient `g` (the peak on its paths: `peak`)."""
        if not self.usable:
            return
        if not np.isfinite(peak):
            self.usable = False
            return
        inputs = [self.values[i] for i in node.inputs]
        if node.type in self.CURVED and not self._small(node, mod, inputs, cache):
            self.usable = False
            return
        k = self.lengths.values[node.name] - max(self.lengths.values[i] for i in node.inputs)
        kink = getattr(mod, "kink_loss_error", None)
        if kink is not None:
            self.error += kink(node.layer, inputs, [self.errors(i) for i in node.inputs], g, cache)
        rule = getattr(mod, "own_roundings", None)
        if rule is not None:
            for d, own, k_own in rule(node.layer, inputs, g, self.local[node.name], cache):
                self.error += self._share(k_own, d, own)
            return
        exact = [None if self.mags[i] is None else np.abs(v) for i, v in zip(node.inputs, inputs, strict=True)]
        own, _ = mod.magnitude(node.layer, inputs, exact, self.local[node.name], cache)
        self.error += self._share(k, g, own)

    def _small(self, node: Any, mod: ModuleType, inputs: list[np.ndarray], cache: object) -> bool:
        """Whether the inputs of a curved node (and attention's scores) are small enough for the form (`LIMIT`)."""
        for name, x in zip(node.inputs, inputs, strict=True):
            if self.mags[name] is not None and gamma(self.lengths.values[name] + 1, self.u) * float(
                    np.max(np.abs(x), initial=0.0)) > self.LIMIT:
                return False
        exponent = getattr(mod, "exponent_error", None)
        return exponent is None or exponent(node.layer, cache, self.dtype) <= self.LIMIT

    def magnitude(self, inputs: dict[str, tuple[np.ndarray, np.ndarray, float]], length: int) -> float | None:
        """The M that makes the loss's tolerance (γ_n·M, n = `length`) cover the adjoint bound, with the float
        inputs' rounding (`inputs`: their pending gradients); None where the form does not apply."""
        if not self.usable:
            return None
        rounded = sum(self._share(1, d, np.abs(self.values[name]))
                      for name, (d, _, _) in inputs.items() if self.mags.get(name) is not None)
        m = 2.0 * (self.error + rounded) / gamma(max(int(length), 1), self.u)  # 2: see LIMIT
        return m if np.isfinite(m) else None


class _Branches:
    """The gradients' error from kinks (relu at 0, a max-pool's near-tie) that a value's float32 error may put
    on the other side: not first order in u, so it is carried apart, absolute. Each layer with a kink says
    how much of |g| may go the other way (`branch_error` of reference/layers/<type>.py, where the value is
    within its error bound of the kink but not on it: a value exactly on a kink takes the standard's branch);
    that error then travels back like any gradient's (the layers' `magnitude_backward` with G = the error
    and g = 0, linear in G) into the parameters' gradients."""

    def __init__(self, net: ReferenceModel, values: Arrays, mags: dict[str, np.ndarray | None],
                 lengths: dict[str, int], peaks: dict[str, float], dtype: str) -> None:
        self.net, self.values, self.mags, self.lengths, self.peaks = net, values, mags, lengths, peaks
        self.dtype = dtype
        self.pending: Arrays = {}  # per value: the absolute error its gradient may carry
        self._errors: Arrays = {}  # `error` by value: a kink's input is asked for by the branches and the adjoint
        self.parameters: Arrays = {}

    def error(self, name: str) -> np.ndarray:
        """The float32 error bound of a value of the forward (as an output's)."""
        if name not in self._errors:
            bound = Bound("output", self.lengths[name], _array(self.mags[name]), self.peaks[name], self.dtype)
            self._errors[name] = bound.tolerance(self.dtype).allowed(self.values[name])
        return self._errors[name]

    def _add(self, into: Arrays, name: str, e: np.ndarray) -> None:
        into[name] = into[name] + e if name in into else np.asarray(e, dtype=np.float64)

    def loss(self, loss: Any, out: str, target: np.ndarray, grad: np.ndarray) -> None:
        """The loss's own kink (mae's 0), at the model's output."""
        rule = getattr(ref_losses.get(loss.type), "branch_error", None)
        if rule is not None and self.dtype != "float64":
            e = rule(loss, self.values[out], target, self.error(out), grad, unit_roundoff(self.dtype))
            if e is not None:
                self._add(self.pending, out, e)

    def backward(self, node: Any, mod: ModuleType, g: np.ndarray, cache: object, mag_cache: object,
                 params: Arrays) -> None:
        """Carry the error that reached `node`'s output to its inputs and parameters; add its own kinks'."""
        if self.dtype == "float64":  # the fixed rule: a near-tie in float64 is below any rounding asked about
            return
        e = self.pending.pop(node.name, None)
        if e is not None:
            m_inputs, m_params = mod.magnitude_backward(node.layer, np.zeros_like(g), e, cache, mag_cache, params)
            for short, m in m_params.items():
                self._add(self.parameters, self.net.graph.param_names(node)[short], m)
            for src, m in zip(node.inputs, m_inputs, strict=True):
                if m is not None:
                    self._add(self.pending, src, m)
        rule = getattr(mod, "branch_error", None)
        if rule is None:
            return
        own = rule(node.layer, [self.values[i] for i in node.inputs], [self.error(i) for i in node.inputs], g,
                   cache)
        for src, m in zip(node.inputs, own, strict=True):
            if m is not None:
                self._add(self.pending, src, m)


@dataclass
class Lengths:
    """The effective lengths n of one forward (and backward) of a model on a batch: they depend on the shapes
    and the batch size only, never on the values, so they are known before any arithmetic."""

    values: dict[str, int]  # every model input (0) and node output
    outputs: dict[str, int]
    loss: int | None = None  # n_out + loss_length
    gradients: dict[str, int] = field(default_factory=dict)  # per parameter (a node's params share theirs)
    buffers: dict[str, int] = field(default_factory=dict)  # training: batch-norm running statistics


def model_lengths(model: Model | ReferenceModel, batch: int, *, training: bool, loss: object | None = None
                  ) -> Lengths:
    """n of every quantity `model_bounds` bounds, for a batch of `batch` samples (the same numbers: it uses
    this function)."""
    net = model if isinstance(model, ReferenceModel) else ReferenceModel(model)
    values = dict.fromkeys(net.input_names, 0)
    for node in net.graph.nodes:
        k = layer_length(node.layer, node.input_shapes, training=training, batch=batch)
        values[node.name] = max(values[i] for i in node.inputs) + k
    outputs = {o: values[o] for o in net.output_names}
    buffers: dict[str, int] = {}
    if training:
        for node in net.graph.nodes:
            if node.type == "batch_norm":
                (src,) = node.inputs
                n = values[src] + layer_length(node.layer, node.input_shapes, training=True, batch=batch) + 1
                buffers.update({f"{node.name}.{b}": n for b in node.layer.buffers(node.input_shapes)})
    if loss is None or len(net.output_names) != 1:
        return Lengths(values, outputs, buffers=buffers)
    out = net.output_names[0]
    shape = (batch, *net.shapes[out]) if out in net.shapes else (batch, *net.graph.input_shapes[out])
    n_out = outputs[out]
    n_loss = loss_length(loss, shape)
    # the backward's own extra roundings, over the whole model (an upper bound of any path's): reductions
    # longer than the forward's (`backward_excess`), k − 1 additions where a value feeds k consumers, and
    # the rounding of each float input to the working precision
    consumers: dict[str, int] = {}
    for node in net.graph.nodes:
        for src in node.inputs:
            consumers[src] = consumers.get(src, 0) + 1
    extra = (sum(backward_excess(node.layer, node.input_shapes) for node in net.graph.nodes)
             + sum(max(0, c - 1) for c in consumers.values()) + 1)
    gradients: dict[str, int] = {}
    for node in net.graph.nodes:
        n = gradient_length(n_out, n_loss, [batch_length(node.layer, node.input_shapes, batch)], extra)
        for name in net.graph.param_names(node).values():  # a tied parameter: the longer use, + 1 for the sum
            gradients[name] = max(gradients[name], n) + 1 if name in gradients else n
    return Lengths(values, outputs, n_out + n_loss, gradients, buffers)


def gradient_floor(net: ReferenceModel) -> Arrays:
    """A lower bound of every parameter gradient's magnitude M, from the last forward and backward of `net`:
    each layer's own backward applied to |δ| (δ the gradient that reached its output). A parameter gradient is
    linear in δ, Σ c·δ with coefficients c from the forward; its magnitude is at least Σ|c||δ| (the magnitude
    rules replace every term by its absolute value, and G ≥ |δ|), which is at least |Σ c|δ||. Where the
    gradient itself cancels to about 0 (a bias before batch norm), |g| is no measure of its round-off; this is."""
    out: Arrays = {}
    for node, cache in net.tape:
        g = net.output_gradients.get(node.name)
        if g is None:
            continue
        _, d_params = ref_layers.get(node.type).backward(node.layer, np.abs(g), cache)
        for short, d in d_params.items():  # a tied parameter: the floors of its uses add
            name = net.graph.param_names(node)[short]
            out[name] = out[name] + np.abs(d) if name in out else np.abs(d)
    return out


def value_bounds(model: Model | ReferenceModel, batch: int, *, loss: object, loss_value: float, gradients: Arrays,
                 buffers: Arrays | None = None, dtype: str = "float32", floor: Arrays | None = None,
                 lengths: Lengths | None = None) -> Bounds:
    """The bounds of one training batch with every magnitude M replaced by the reference's own |value|.

    M ≥ |value| elementwise (the magnitude pass bounds each value by the same computation on absolute
    values), and every tolerance built from bounds grows with M, so each tolerance from these is at most the
    one from `model_bounds`: a comparison that passes under them passes under the derived bounds. It costs no
    arithmetic beyond |value| (the lengths depend on shapes only), which lets the re-synchronized comparison
    skip the magnitude pass on every step that passes anyway. Representability is not judged here (a
    finite tolerance is a lower bound of an infinite one). `floor`: better lower bounds of the gradients'
    magnitudes (`gradient_floor`), used where larger than |g|; `lengths`: `model_lengths` of this batch size,
    when the caller keeps them."""
    net = model if isinstance(model, ReferenceModel) else ReferenceModel(model)
    n = lengths if lengths is not None else model_lengths(net, batch, training=True, loss=loss)
    assert n.loss is not None
    loss_bound = Bound("loss", n.loss, np.asarray(abs(float(loss_value))), 0.0, dtype)
    floor = floor or {}
    grads = {}
    for k, g in gradients.items():
        m = np.abs(np.asarray(g, dtype=np.float64))
        if k in floor and np.shape(floor[k]) == m.shape:
            m = np.maximum(m, floor[k])
        grads[k] = Bound("gradient", n.gradients.get(k, 1), m, 0.0, dtype)
    bufs = {k: Bound("parameter", n.buffers[k], np.abs(np.asarray(v, dtype=np.float64)), 0.0, dtype)
            for k, v in (buffers or {}).items() if k in n.buffers}
    return Bounds({}, loss_bound, grads, bufs)


def floored(m: np.ndarray, floor: float) -> np.ndarray:
    """M + λ/u where M > 0: a rounding below the normal range is absolute (≤ λ, also flushed to zero),
    and λ = γ·λ/u to first order, so λ/u in every nonzero magnitude carries underflow through later
    divisions and logs (a probability of 1e-40 has float32 relative error ~1e-2, which 1/p amplifies).
    M = 0 means every term is exactly 0, which stays exact."""
    m = np.asarray(m, dtype=np.float64)
    return np.where(m > 0, m + floor, m)


def _peak(m: np.ndarray | None) -> float:
    return 0.0 if m is None or np.size(m) == 0 else float(np.max(m))


# -------------------------------------------------------------------------------------------- losses
def loss_terms(loss: object, prediction: np.ndarray, target: np.ndarray, a_pred: np.ndarray
               ) -> tuple[float, np.ndarray]:
    """(own, G_y): the loss's own magnitude (its formula with every term absolute, plus the target's
    rounding to the working precision carried by ∂ℓ/∂t) and the magnitude of ∂L/∂y, max(|∂²L/∂y²|·A_y,
    own terms of the derivative's formula): `terms` of reference/losses/<type>.py. `loss_magnitude` adds the
    output's error Σ|∂L/∂y|·A_y."""
    return construct_rule("loss", loss.type, "terms")(loss, prediction, target, a_pred)  # type: ignore[attr-defined]


def near_singularity(loss: object, prediction: np.ndarray, target: np.ndarray, error: np.ndarray) -> bool:
    """Whether a loss from probabilities takes log p or 1/p (or of 1 − p) of a p whose error bound `error`
    reaches its distance to 0: there float32 may return ±inf and the first-order bound says nothing
    (`singular` of reference/losses/<type>.py)."""
    return bool(construct_rule("loss", loss.type, "singular")(loss, prediction, target, error))  # type: ignore[attr-defined]


def _array(a: np.ndarray | None) -> np.ndarray:
    if a is None:  # an integer model input returned as an output: exact
        raise ValueError("an integer output has no float bound")
    return np.asarray(a, dtype=np.float64)
