"""Adapters with planted bugs: the conformance suite proves its own power by catching every one of them.

Each mutant (one file here) is the reference adapter with exactly one bug of a kind frameworks really have
(Adam's ε placement, RMSprop's ε inside the root, SGD momentum formulations, coupled vs decoupled decay,
loss reduction and label smoothing, 'same' padding, gate order, batch-norm momentum, a late schedule, a
warm-up one step short, a learning rate one float32 ulp off, 0·log 0 at saturated probabilities, relu's kink
and max-pool ties taking the other branch, a derivative from the wrong saved tensor, attention's scale by the
head width, a norm's statistics held constant in its backward, Nesterov with dampening, a softmax cross-entropy
gradient that takes every target row as summing to 1). `detect` certifies one
with the suite's default settings, restricted to the constructs it touches, and says which check caught it after
how many examples;
`python -m lockstep.conformance.mutants` prints the table for all of them (docs/conformance.md, "The suite
proves its own power").
The `export_*` mutants plant exporter bugs in the onnxruntime adapter's ONNX export (`_export.py`); their
control is the correct onnxruntime adapter, and they need lockstep-standard[onnx].
A mutant is *caught* when the certification is not certified and a check of a construct the mutant
touches fails (a failure, not an error: a crash proves nothing about the suite's power).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from lockstep.adapters.base import Adapter
from lockstep.conformance.results import Certification, CheckResult
from lockstep.conformance.suite import Options, certify

DTYPES: tuple[str, ...] = ("float32", "float64")
"""The dtypes a restricted detection run certifies: certify's default, both (the float32-ulp mutants are
float64 bugs and set their own)."""

REFERENCE = "lockstep.adapters.reference:ReferenceAdapter"
ONNXRUNTIME = "lockstep.adapters.onnxruntime:OnnxRuntimeAdapter"
TORCH = "lockstep.adapters.torch:TorchAdapter"

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("step", "exponential", "cosine", "warmup")  # `constant` cannot show a schedule's timing
LOSSES = ("mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy",
          "sparse_categorical_crossentropy", "nll")


@dataclass(frozen=True)
class Mutant:
    """One planted bug: what it plants, the constructs whose checks must catch it, its adapter class."""

    name: str
    plants: str  # one line, for the table
    constructs: tuple[str, ...]  # spec type names; the certification is restricted to these
    adapter: str  # `module:attribute` of its Adapter class (also usable as `lockstep certify --adapter`)
    dtypes: tuple[str, ...] | None = None  # None: DTYPES; the float32-ulp mutants are float64 bugs only
    control: str = REFERENCE  # `module:attribute` of the correct adapter it is a mutant of (the false-alarm check)
    levels: tuple[int, ...] | None = None  # None: certify's default levels; (5,): a data-parallel bug

    def load(self) -> Adapter:
        """An instance of the mutant's adapter class."""
        return _load(self.adapter)

    def load_control(self) -> Adapter:
        """An instance of the correct adapter the mutant plants its bug in."""
        return _load(self.control)

    @property
    def available(self) -> bool:
        """Whether its framework is installed (the export mutants need lockstep-standard[onnx])."""
        if self.control == REFERENCE:
            return True
        needs = ("torch",) if self.control == TORCH else ("onnx", "onnxruntime")
        return all(importlib.util.find_spec(m) is not None for m in needs)


def _load(target: str) -> Adapter:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)()


def _m(name: str, cls: str, plants: str, constructs: tuple[str, ...], dtypes: tuple[str, ...] | None = None,
       control: str = REFERENCE, levels: tuple[int, ...] | None = None) -> Mutant:
    return Mutant(name, plants, constructs, f"{__name__}.{name}:{cls}", dtypes, control, levels)


DATA_PARALLEL = (5,)  # level 5, data_parallel (conformance/levels/data_parallel.py)


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    _m("adam_epsilon_placement", "AdamEpsilonPlacementAdapter",
       "Adam ε added to the uncorrected √v (Keras)", ("adam", "adamw")),
    _m("adam_no_bias_correction", "AdamNoBiasCorrectionAdapter",
       "Adam without 1 − βᵗ bias correction (BERT's AdamWeightDecayOptimizer)", ("adam", "adamw")),
    _m("rmsprop_epsilon_inside_root", "RMSpropEpsilonInsideRootAdapter",
       "RMSprop g/√(v + ε) (Keras)", ("rmsprop",)),
    _m("sgd_momentum_keras", "SGDMomentumKerasAdapter",
       "SGD momentum v ← μv − lr·g, lr inside the buffer (Keras)", ("sgd", *SCHEDULES)),
    _m("sgd_dampening_first_step", "SGDDampeningFirstStepAdapter",
       "SGD dampening applied to b₁ (zero-initialized buffer)", ("sgd",)),
    _m("sgd_nesterov_dampened_gradient", "SGDNesterovDampenedGradientAdapter",
       "SGD Nesterov with dampening: look-ahead (1 − dampening)·g + μb", ("sgd",)),
    _m("claims_native_sgd", "ClaimsNativeSGDAdapter",
       "claims native torch.optim.SGD; Nesterov hand-written on b_{t-1}", ("sgd",), control=TORCH),
    _m("adamw_coupled_decay", "AdamWCoupledDecayAdapter",
       "AdamW decay added to the gradient (torch.optim.Adam(weight_decay))", ("adamw",)),
    _m("loss_reduction", "LossReductionAdapter",
       "`mean` loss divided by the batch size only (batchmean)", LOSSES),
    _m("label_smoothing", "LabelSmoothingAdapter",
       "label smoothing s/(C − 1) over the other classes (fairseq)",
       ("categorical_crossentropy", "sparse_categorical_crossentropy")),
    _m("same_padding_asymmetry", "SamePaddingAsymmetryAdapter",
       "'same' padding's odd element first on strided axes (SAME_LOWER)",
       ("conv1d", "conv2d", "max_pool2d", "avg_pool2d")),
    _m("lstm_gate_order", "LSTMGateOrderAdapter",
       "LSTM (i, f, g, o) weights read as ONNX's (i, o, f, c)", ("lstm",)),
    _m("gru_gate_order", "GRUGateOrderAdapter",
       "GRU (r, z, n) weights read as Keras's (z, r, h)", ("gru",)),
    _m("batch_norm_momentum", "BatchNormMomentumAdapter",
       "batch_norm momentum weighs the running statistic (Keras)", ("batch_norm",)),
    _m("schedule_one_step_late", "ScheduleOneStepLateAdapter",
       "update t runs at lr(t − 1)", SCHEDULES),
    _m("warmup_ends_early", "WarmupEndsEarlyAdapter",
       "warm-up's last step (t = W − 1) at the full rate (1-based step < W)", SCHEDULES),
    _m("probability_zero_log_zero", "ProbabilityZeroLogZeroAdapter",
       "cross-entropy from probabilities without 0·log 0 = 0 (NaN at a saturated output)",
       ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")),
    _m("soft_target_gradient", "SoftTargetGradientAdapter",
       "categorical cross-entropy from logits differentiated as softmax(y) − t (TensorFlow's op)",
       ("categorical_crossentropy",)),
    _m("relu_kink_gradient", "ReLUKinkGradientAdapter", "relu'(0) = 1 (mask x ≥ 0)", ("relu",)),
    _m("tanh_gradient_from_input", "TanhGradientFromInputAdapter",
       "tanh′ from the input, 1 − x², not the output's 1 − y²", ("tanh",)),
    _m("attention_scale_by_width", "AttentionScaleByWidthAdapter",
       "attention scores scaled by 1/d, the head width, not 1/√d", ("multi_head_attention",)),
    _m("layer_norm_statistics_detached", "LayerNormStatisticsDetachedAdapter",
       "layer_norm's input gradient with μ and σ² held constant", ("layer_norm",)),
    _m("global_norm_overflow", "GlobalNormOverflowAdapter",
       "‖g‖ as a sum of squares in the dtype (inf beyond √max)", ("global_norm",)),
    _m("max_pool_last_tie", "MaxPoolLastTieAdapter", "max-pool tie routed to the window's last maximum",
       ("max_pool2d",)),
    _m("learning_rate_float32_ulp", "LearningRateFloat32UlpAdapter",
       "float64 run, lr one float32 ulp high, reported", OPTIMIZERS, ("float64",)),
    _m("learning_rate_float32_ulp_silent", "LearningRateFloat32UlpSilentAdapter",
       "float64 run, lr one float32 ulp high, float64 lr reported", OPTIMIZERS, ("float64",)),
    _m("export_same_padding_lower", "ExportSamePaddingLowerAdapter",
       "ONNX export: 'same' written as SAME_LOWER (odd pad first on strided axes)",
       ("conv1d", "conv2d", "max_pool2d", "avg_pool2d"), control=ONNXRUNTIME),
    _m("export_lstm_gate_order", "ExportLSTMGateOrderAdapter",
       "ONNX export: LSTM blocks (i, f, g, o) not reordered to ONNX's (i, o, f, c)", ("lstm",), control=ONNXRUNTIME),
    _m("export_layer_norm_epsilon", "ExportLayerNormEpsilonAdapter",
       "ONNX export: layer_norm ε dropped (ONNX's default 1e-5)", ("layer_norm",), control=ONNXRUNTIME),
    _m("dp_gradient_sum", "DPGradientSumAdapter",
       "data parallel: gradients summed over the replicas, not averaged", ("data_parallel",),
       levels=DATA_PARALLEL),
    _m("dp_batch_norm_synced", "DPBatchNormSyncedAdapter",
       "data parallel: batch norm synchronized when `local` was asked", ("data_parallel_local",),
       levels=DATA_PARALLEL),
    _m("dp_batch_norm_local", "DPBatchNormLocalAdapter",
       "data parallel: batch norm per replica when `sync` was asked", ("data_parallel_sync",),
       levels=DATA_PARALLEL),
    _m("dp_same_dropout_mask", "DPSameDropoutMaskAdapter",
       "data parallel: every replica uses the first replica's dropout mask", ("data_parallel",),
       levels=DATA_PARALLEL),
    _m("dp_skip_uneven_shard", "DPSkipUnevenShardAdapter",
       "data parallel: the replica with the smaller shard of an uneven batch skips it", ("data_parallel",),
       levels=DATA_PARALLEL),
)}


@dataclass
class Detection:
    """One mutant's certification and the verdict on it."""

    mutant: Mutant
    certification: Certification
    seconds: float

    @property
    def failures(self) -> list[CheckResult]:
        """Failing checks of the constructs the mutant touches, in report order."""
        return [c for c in self.certification.checks if c.outcome == "fail" and c.construct in self.mutant.constructs]

    @property
    def caught_by(self) -> CheckResult | None:
        """The failing touched check that needed the fewest examples (the first in report order on a tie)."""
        return min(self.failures, key=lambda c: c.examples, default=None)

    @property
    def caught(self) -> bool:
        return not self.certification.certified and self.caught_by is not None


def options_for(mutant: Mutant | None, examples: int, seed: int, *, full: bool = False,
                constructs: tuple[str, ...] | None = None, dtypes: tuple[str, ...] | None = None,
                levels: tuple[int, ...] | None = None) -> Options:
    """Certify's default options (all levels), restricted to the mutant's constructs and dtypes unless `full`
    (every construct, both dtypes: the whole default certification); a data-parallel mutant's level 5 is
    added (it is not one of the default levels)."""
    wanted_levels = levels or (mutant.levels if mutant and mutant.levels else None)
    if full:
        base = Options(examples=examples, seed=seed)
        return replace(base, levels=tuple(sorted({*base.levels, *(wanted_levels or ())})))
    wanted = constructs or (mutant.constructs if mutant else ())
    return replace(Options(), examples=examples, seed=seed, constructs=tuple(wanted),
                   dtypes=dtypes or (mutant.dtypes if mutant and mutant.dtypes else DTYPES),
                   **({"levels": wanted_levels} if wanted_levels else {}))


def detect(mutant: Mutant, options: Options, on_result: Callable[[int, int, CheckResult], None] | None = None
           ) -> Detection:
    """Certify the mutant's adapter with `options` (see `options_for`)."""
    adapter = mutant.load()
    t0 = time.perf_counter()
    cert = certify(adapter, adapter.name, options, on_result)
    return Detection(mutant, cert, time.perf_counter() - t0)


__all__ = ["DTYPES", "MUTANTS", "Detection", "Mutant", "detect", "options_for"]
