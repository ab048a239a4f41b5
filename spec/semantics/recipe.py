"""Semantic checks of a Recipe: its data (sample counts against the split and the batch), schedule and
evaluation lengths against the run, hyper-parameter combinations, and, given its resolved model, the recipe
against the model (input shape and dtype, vocabulary, batch norm, loss against output and targets, the output
activation the loss expects, the data-parallel rules) and the memory the run needs.

The model arrives resolved (`spec/resolve.py` reads and validates it once, inline or from its file); its own
problems are reported there, and the checks against it are skipped when it is not valid.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

from lockstep.spec import distribution, resources
from lockstep.spec.base import FLOAT_MAX, OVERFLOW, Shape
from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.documents import Model, Recipe
from lockstep.spec.formats import plural
from lockstep.spec.graph import ModelGraph, Node, build_graph
from lockstep.spec.losses import CLASS_INDEX_LOSSES
from lockstep.spec.npy import read_npz_header, scan_npz_values
from lockstep.spec.paths import resolve_path
from lockstep.spec.semantics.data import DIGITS_SHAPES, MAX_CSV_BYTES, DataFacts
from lockstep.spec.semantics.data import apply_preprocessing as _apply_preprocessing
from lockstep.spec.semantics.data import source_facts as _source_facts
from lockstep.spec.semantics.data import total_steps as _total_steps
from lockstep.spec.semantics.located import Located, PathParts
from lockstep.spec.semantics.located import diag as _diag
from lockstep.spec.semantics.model import memory_limit as _memory_limit

__all__ = ["check_recipe"]


def check_recipe(recipe: Recipe, doc: Located, *, base_dir: Path, model: Model | None) -> list[Diagnostic]:
    """Data files, sample counts, schedule lengths, and the recipe against its resolved `model` (None: the model
    is not valid, and its own diagnostics say why)."""
    out: list[Diagnostic] = []
    facts = _source_facts(recipe, doc, base_dir, out)
    _apply_preprocessing(recipe, facts, doc, out)

    n_train = None
    if facts.samples is not None:
        held = recipe.data.split.held_out(facts.samples)
        n_train = facts.samples - held
        b = recipe.data.batch_size
        if n_train < 1:
            out.append(_diag(doc, ("data", "split", "validation"), f"holding out {held} of {facts.samples} samples "
                             "leaves no training sample", code="range"))
            n_train = None
        elif b > n_train:
            verb = "is" if held == 1 else "are"
            split = f" ({held} of {facts.samples} {verb} held out for validation)" if held else ""
            what = ("drop_last is set, so no batch would remain" if recipe.data.drop_last
                    else "every batch would be the whole training split")
            out.append(_diag(doc, ("data", "batch_size"), f"batch_size {b} exceeds the "
                             f"{plural(n_train, 'training sample')}{split}: {what}", code="range",
                             expected=f"at most {n_train}"))
    total = _total_steps(recipe, n_train)
    out.extend(_check_schedule(recipe, total, doc))
    opt = recipe.optimizer
    if opt.type == "sgd" and opt.nesterov and opt.momentum == 0:
        out.append(_diag(doc, ("optimizer", "nesterov"), "Nesterov momentum needs `momentum` > 0; with momentum 0 "
                         "`nesterov: true` does nothing", code="range"))
    if opt.type == "rmsprop" and opt.centered and opt.rho == 0:  # torch's fused v − a² rounds below 0: NaN
        out.append(_diag(doc, ("optimizer", "centered"), "centered RMSprop needs `rho` > 0; with rho 0 the variance "
                         "estimate v − a² is g² − g² = 0, so every step divides the gradient by epsilon alone",
                         code="range"))
    out.extend(_betas_at_one(recipe, doc))
    start = getattr(opt, "initial_accumulator_value", 0.0)
    if start >= OVERFLOW[recipe.dtype]:  # torch could not build its session ("cannot be converted to type float")
        out.append(_diag(doc, ("optimizer", "initial_accumulator_value"), f"Adagrad's accumulator would start at "
                         f"{start:g}, beyond the range of the recipe's dtype ({_range(recipe)})", code="range",
                         expected=f"below {_range(recipe, True)}"))
    if model is not None:
        graph = build_graph(model)
        found = _check_against_model(recipe, model, graph, facts, n_train, doc)
        found += _vanishing_epsilons(recipe, model, graph, doc) + _numbers_beyond(recipe, model, graph, doc)
        if model.weights is not None and recipe.dtype != "float64":  # its path is the model file's, from its folder
            named = isinstance(recipe.model, str)
            beyond = _weights_beyond(recipe, model, (base_dir / recipe.model).parent if named else base_dir)
            if beyond is not None:
                found.append(_diag(doc, _model_field(recipe, "weights", "path"), beyond, code="range"))
        if not graph.problems:
            found += [_diag(doc, p.path, p.message, code="distribution", expected=p.expected)
                      for p in distribution.problems(recipe, graph, n_train, total)]
        out.extend(found)
        if not found and not graph.problems:
            out.extend(_check_memory(recipe, model, graph, facts, total, doc))
    return out


def _check_memory(recipe: Recipe, model: Model, graph: ModelGraph, facts: DataFacts, total_steps: int | None,
                  doc: Located) -> list[Diagnostic]:
    """Parameters, optimizer state, the activations of a batch, the data and the history against the limit."""
    limit = _memory_limit(doc, ())
    if isinstance(limit, Diagnostic):
        return [limit]
    if limit.bytes is None:
        return []
    section = "layers" if model.layers is not None else "nodes"
    prefix: PathParts = ("model",)
    states = resources.optimizer_states(recipe.optimizer)
    checkpointed = recipe.checkpoint is not None
    copies = resources.PARAM_COPIES + resources.CHECKPOINT_COPIES * checkpointed
    states *= resources.STATE_COPIES + resources.CHECKPOINT_COPIES * checkpointed
    needs = resources.parameter_needs(graph, prefix, section, copies=copies, states=states)
    b = recipe.data.batch_size
    train = resources.activation_needs(graph, prefix, section, b, resources.ACTIVATION_COPIES,
                                       f"a training batch of {b} sample{'s' * (b != 1)}")
    samples = facts.samples if facts.samples is not None else facts.approx_samples
    if samples is not None:
        held = recipe.data.split.held_out(samples)
        n_eval = held or samples
        c = min(n_eval, resources.EVAL_CHUNK)
        chunk = resources.activation_needs(graph, prefix, section, c, 1, f"evaluation ({c} sample{'s' * (c != 1)} "
                                           "at a time)")
        outputs = math.prod(graph.output_shapes()[0]) * n_eval * resources.FLOAT_BYTES
        if outputs:
            chunk.append(resources.Need(f"the model's outputs on {n_eval} evaluation samples", ("evaluation",),
                                        outputs))
        train = train + chunk  # the reference holds an evaluation's values into the next training step
        features = math.prod(facts.features) if facts.features is not None else 1
        targets = math.prod(facts.targets) if facts.targets else 1
        data = samples * (features * resources.FEATURE_COPIES + targets * resources.TARGET_COPIES)
        src = recipe.data.source
        if src.type == "synthetic_classification":
            data += src.num_classes * features
        about = "about " if facts.samples is None else ""
        needs.append(resources.Need(f"the data ({about}{samples:,} samples of {list(facts.features or ())} features)",
                                    ("data", "source"), data * resources.FLOAT_BYTES))
    needs.extend(train)
    if total_steps is not None:
        needs.append(resources.Need(f"the records of the run's history ({total_steps:,} steps)", ("training",),
                                    total_steps * resources.HISTORY_BYTES_PER_STEP))
    found = resources.too_much(needs, limit, "to run this recipe")
    return [] if found is None else [_diag(doc, found[0].path, found[1], code="memory")]


def _check_schedule(recipe: Recipe, total: int | None, doc: Located) -> list[Diagnostic]:
    out = []
    sched = recipe.schedule
    lr = recipe.optimizer.learning_rate
    if sched.type == "cosine" and sched.min_learning_rate > lr:
        out.append(_diag(doc, ("schedule", "min_learning_rate"), f"min_learning_rate {sched.min_learning_rate} is "
                         f"above the optimizer's learning_rate {lr}: the cosine would rise, not decay", code="range",
                         expected=f"at most {lr}"))
    if total is None:
        return out
    run = plural(total, "training step") + ("" if recipe.training.steps is not None else
                                       f" ({recipe.training.epochs} epochs)")
    warm = sched.warmup.steps if sched.warmup is not None else 0
    if warm and warm >= total:
        out.append(_diag(doc, ("schedule", "warmup", "steps"), f"the warm-up of {plural(warm, 'step')} does not end "
                         f"before training does ({run})", code="range", expected=f"fewer than {total}"))
    else:
        left = total - warm
        after = (f"{plural(left, 'step')} follow{'s' * (left == 1)} the warm-up" if warm else f"training has {run}")
        if sched.type == "cosine" and sched.decay_steps > left:
            out.append(_diag(doc, ("schedule", "decay_steps"), f"cosine decays over {sched.decay_steps} steps but "
                             f"{after}: the learning rate would still be decaying when training ends",
                             code="range", expected=f"at most {left}"))
        power = (left - 1) // sched.step_size if sched.type == "step" else left - 1
        if sched.type in ("exponential", "step") and sched.gamma > 1 and \
                math.log(lr) + power * math.log(sched.gamma) > math.log(FLOAT_MAX):
            out.append(_diag(doc, ("schedule", "gamma"), f"gamma {sched.gamma:g} grows the learning rate past the "
                             f"largest float64 before training ends ({lr:g} x {sched.gamma:g}^{power} at the last of "
                             f"{run})", code="range", expected="a gamma that keeps the learning rate finite"))
        if sched.type == "step" and sched.step_size >= left:
            out.append(_diag(doc, ("schedule", "step_size"), f"the step schedule first decays after "
                             f"{plural(sched.step_size, 'step')} but {after}: it would never decay", code="range",
                             expected=f"fewer than {left}"))
    for key in ("evaluation", "checkpoint"):
        section = getattr(recipe, key)
        if section is not None and section.every is not None and section.every > total:
            out.append(_diag(doc, (key, "every"), f"every {section.every} steps never happens in a run of {run}",
                             code="range", expected=f"at most {total}"))
    return out


def _output_node(graph: ModelGraph) -> Node | None:
    """The node that produces the output, looking through dropout (identity at evaluation)."""
    node = graph.by_name.get(graph.outputs[0]) if graph.outputs else None
    while node is not None and node.type == "dropout" and node.inputs:
        node = graph.by_name.get(node.inputs[0])
    return node


def _flatten_hint(graph: ModelGraph) -> str:
    for n in graph.nodes:
        if n.type == "dense" and n.input_shapes and len(n.input_shapes[0]) > 1 and n.name in _feeds_output(graph):
            return (f"; `{n.name}` (dense) acts on the last axis of its input {list(n.input_shapes[0])} only: "
                    f"insert `{{type: flatten}}` before it")
        if n.type in ("lstm", "gru") and n.layer.return_sequences and n.name in _feeds_output(graph):  # type: ignore[attr-defined]
            return f"; `{n.name}` ({n.type}) has `return_sequences: true`, which keeps the time axis"
    return ""


def _feeds_output(graph: ModelGraph) -> set[str]:
    """Nodes on the single-input chain that ends at the output."""
    chain, node = set(), graph.by_name.get(graph.outputs[0]) if graph.outputs else None
    while node is not None and len(node.inputs) == 1:
        chain.add(node.name)
        node = graph.by_name.get(node.inputs[0])
    if node is not None:
        chain.add(node.name)
    return chain


def _describe_output(graph: ModelGraph, model_ref: str) -> str:
    node = _output_node(graph)
    what = f"`{node.name}` ({node.type})" if node is not None else f"`{graph.outputs[0]}`"
    return f"the model{model_ref} outputs {list(graph.output_shapes()[0])} from {what}"


def _check_against_model(recipe: Recipe, model: Model, graph: ModelGraph, facts: DataFacts, n_train: int | None,
                         doc: Located) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if graph.problems:
        return out  # already reported against the model
    if len(model.inputs) != 1 or len(graph.outputs) != 1:
        out.append(_diag(doc, ("model",), f"a recipe trains a model with one input and one output in spec v1; "
                         f"this one has {len(model.inputs)} inputs and {len(graph.outputs)} outputs", code="model"))
        return out
    ref = f" `{recipe.model}`" if isinstance(recipe.model, str) else ""
    inp = model.inputs[0]
    if facts.features is not None and facts.features != tuple(inp.shape):
        src = recipe.data.source
        fix = next((k for k, v in DIGITS_SHAPES.items() if v == tuple(inp.shape)), None) \
            if src.type == "dataset" else None
        out.append(_diag(doc, ("data", "source", "shape") if fix else ("data", "source"),
                         f"{facts.label} gives samples of shape {list(facts.features)} but input `{inp.name}` of the "
                         f"model{ref} has shape {list(inp.shape)}", fix, code="data"))
    if inp.dtype == "int64" and facts.feature_kind == "float":
        out.append(_diag(doc, ("data", "source"), f"input `{inp.name}` of the model{ref} takes integer indices "
                         f"(`dtype: int64`) but {facts.label} gives floating-point features", code="dtype"))
    if inp.dtype == "int64":
        for i, p in enumerate(recipe.data.preprocessing):
            if p.type in ("standardize", "min_max"):
                out.append(_diag(doc, ("data", "preprocessing", i), f"`{p.type}` rescales floating-point features, "
                                 f"but input `{inp.name}` of the model{ref} takes integer indices", code="dtype"))
    if facts.vocab is not None:
        for n, dim in graph.token_tables():
            if dim < facts.vocab:
                out.append(_diag(doc, ("data", "source", "vocab_size"), f"tokens range over 0..{facts.vocab - 1} "
                                 f"but embedding `{n.name}` of the model{ref} has input_dim {dim}", code="data",
                                 expected=f"input_dim >= {facts.vocab}"))
    out.extend(_check_values(recipe, graph, facts, ref, doc))
    out.extend(_check_batch_norm(recipe, graph, n_train, ref, doc))
    out.extend(_check_loss(recipe, graph, facts, ref, doc))
    if "accuracy" in recipe.evaluation.metrics and facts.target_kind == "float":
        i = recipe.evaluation.metrics.index("accuracy")
        out.append(_diag(doc, ("evaluation", "metrics", i), f"`accuracy` needs class targets; {facts.label} gives "
                         "real-valued targets", code="metric"))
    if recipe.loss.type in CLASS_INDEX_LOSSES and "one_hot" not in (p.type for p in recipe.data.preprocessing):
        for i, m in enumerate(recipe.evaluation.metrics):  # one class index per position, one output per class
            if m in ("mse", "mae"):
                out.append(_diag(doc, ("evaluation", "metrics", i), f"`{m}` compares the outputs with targets of "
                                 f"their shape, element by element; `{recipe.loss.type}` takes class indices, one "
                                 "per position, not one per output", code="metric",
                                 expected="`loss` or `accuracy` for class targets"))
    return out


def _check_values(recipe: Recipe, graph: ModelGraph, facts: DataFacts, ref: str, doc: Located) -> list[Diagnostic]:
    """A data file's values as a run will take them (it refuses the rest at loading, or failed mid-run): token
    indices whole and inside every embedding they index; features, min_max's bounds and real-valued targets
    within the recipe's dtype where nothing rescales them."""
    out: list[Diagnostic] = []
    inp, where = graph.model.inputs[0], ("data", "source", "path")
    kinds = [p.type for p in recipe.data.preprocessing]
    if inp.dtype == "int64" and facts.feature_fraction is not None:
        value, at = facts.feature_fraction
        return [_diag(doc, where, f"input `{inp.name}` of the model{ref} takes integer indices, but "
                      f"{facts.label} holds {value:g} ({at})", code="data", expected="whole numbers")]
    if inp.dtype == "int64" and facts.feature_values is not None:
        (low, low_at), (high, high_at), what = facts.feature_values
        for n, dim in graph.token_tables():
            if low < 0 or high >= dim:
                bad, at = (low, low_at) if low < 0 else (high, high_at)
                return [_diag(doc, where, f"{what} holds token {bad:g} ({at}), but embedding `{n.name}` of the "
                              f"model{ref} has input_dim {dim}", code="data", expected=f"tokens 0 to {dim - 1}")]
    limit = OVERFLOW[recipe.dtype]
    for i, p in enumerate(recipe.data.preprocessing):
        for side in ("low", "high") if p.type == "min_max" else ():
            if abs(getattr(p, side)) >= limit:
                out.append(_diag(doc, ("data", "preprocessing", i, side), f"min_max scales features to "
                                 f"{getattr(p, side):g}, beyond the range of the recipe's dtype ({_range(recipe)})",
                                 code="range", expected=f"within ±{_range(recipe, True)}"))
    rescaled = "standardize" in kinds or "min_max" in kinds
    source = recipe.data.source  # a generator's spread at or past the dtype's range: its samples are too
    spreads = [("noise", "targets")] if source.type == "synthetic_regression" and recipe.loss.type not in \
        CLASS_INDEX_LOSSES and "one_hot" not in kinds else []
    spreads += [("separation", "features")] if source.type == "synthetic_classification" and not rescaled else []
    for key, what in spreads:
        if getattr(source, key) >= limit:
            out.append(_diag(doc, ("data", "source", key), f"{source.type}'s {key} {getattr(source, key):g} spreads "
                             f"its {what} beyond the range of the recipe's dtype ({_range(recipe)})", code="range",
                             expected=f"below {_range(recipe, True)}"))
    unscaled = [] if inp.dtype == "int64" or rescaled else [("feature", facts.feature_values)]
    if "one_hot" not in kinds and recipe.loss.type not in CLASS_INDEX_LOSSES:
        unscaled.append(("target", facts.target_values))
    for kind, values in unscaled:
        if values is None:
            continue
        (low, low_at), (high, high_at), what = values
        if max(-low, high) >= limit:
            bad, at = (low, low_at) if -low >= high else (high, high_at)
            out.append(_diag(doc, where, f"{what} holds the {kind} value {bad:g} ({at}), beyond the range of the "
                             f"recipe's dtype ({_range(recipe)})", code="range",
                             expected=f"values within ±{_range(recipe, True)}"))
    return out


FLOAT32_TINY = 2.0**-149  # the smallest positive float32 (a subnormal); half of it and less round to 0


def _model_field(recipe: Recipe, *field: str | int) -> PathParts:
    """Where a diagnostic about the model's `field` points: the field in an inline model, the recipe's `model:`
    line for a model file (the file's own lines are not this document's)."""
    return ("model",) if isinstance(recipe.model, str) else ("model", *field)


def _node_field(recipe: Recipe, model: Model, n: Node, *field: str | int) -> PathParts:
    return _model_field(recipe, "layers" if model.layers is not None else "nodes", n.index, *field)


def _betas_at_one(recipe: Recipe, doc: Located) -> list[Diagnostic]:
    """An Adam β that float32 holds as 1 (0.99999999 in a float32 recipe): a float32 moving average with β = 1 never
    takes in a gradient, and its bias correction 1 − βᵗ is 0. Keras's Adam then never moved the weights, and the
    TensorFlow adapter's bridge of its bias correction divided by that 0 (NaN at step 1), while torch, which corrects
    in Python's float64, trained on."""
    if recipe.dtype != "float32" or recipe.optimizer.type not in ("adam", "adamw"):
        return []
    out = []
    for key in ("beta1", "beta2"):
        beta = getattr(recipe.optimizer, key)
        if struct.unpack("f", struct.pack("f", beta))[0] == 1.0:
            out.append(_diag(doc, ("optimizer", key), f"{key} {beta!r} is 1 in float32 (the nearest float32), so a "
                             "float32 moving average never takes in a gradient and its bias correction 1 − βᵗ is 0",
                             code="range", expected="at most 0.99999997 in a float32 recipe"))
    return out


def _vanishing_epsilons(recipe: Recipe, model: Model, graph: ModelGraph, doc: Located) -> list[Diagnostic]:
    """An epsilon that float32 holds as 0 (1e-300 in a float32 recipe): where a variance or a square is 0, the
    float32 backends then divide 0 by 0 (torch stopped at "non-finite loss"), while the float64 reference does
    not."""
    if recipe.dtype != "float32":
        return []
    found = [(("optimizer", "epsilon"), getattr(recipe.optimizer, "epsilon", None), "the optimizer's")]
    found += [(_node_field(recipe, model, n, "epsilon"), getattr(n.layer, "epsilon", None), f"{n.type} `{n.name}`'s")
              for n in graph.nodes]
    return [_diag(doc, where, f"{whose} epsilon {eps:g} is 0 in float32 (below half its smallest positive number, "
                  f"{FLOAT32_TINY:.3g}), so it no longer keeps a division by a zero variance or square finite",
                  code="range", expected=f"more than {FLOAT32_TINY / 2:.2g} in a float32 recipe")
            for where, eps, whose in found if isinstance(eps, float) and 0 < eps <= FLOAT32_TINY / 2]


def _numbers_beyond(recipe: Recipe, model: Model, graph: ModelGraph, doc: Located) -> list[Diagnostic]:
    """A layer's number that the recipe's dtype cannot hold: an initializer's (`constant: 1e39`, `gain: 1e300` in a
    float32 recipe), with which the run would start from ±inf weights and stop at its first step with a non-finite
    loss, or the layer's own constant (leaky_relu's `negative_slope: 1e39`): torch could not convert it and its adapter
    raised, where the reference and TensorFlow stopped at a non-finite loss."""
    out = []
    for n in graph.nodes:
        for key in type(n.layer).model_fields:
            number = getattr(n.layer, key, None)
            if isinstance(number, float) and abs(number) >= OVERFLOW[recipe.dtype]:
                out.append(_diag(doc, _node_field(recipe, model, n, key), f"{n.type} `{n.name}`'s {key} {number:g} "
                                 f"is beyond the range of the recipe's dtype ({_range(recipe)})", code="range",
                                 expected=f"within ±{_range(recipe, True)}"))
        for param, init in (getattr(n.layer, "initializers", None) or {}).items():
            for key in ("value", "low", "high", "mean", "std", "gain"):
                number = getattr(init, key, None)
                if isinstance(number, (int, float)) and abs(number) >= OVERFLOW[recipe.dtype]:
                    where = _node_field(recipe, model, n, "initializers", param, key)
                    out.append(_diag(doc, where, f"{n.type} `{n.name}`'s initializer of `{param}` has {key} "
                                     f"{number:g}, beyond the range of the recipe's dtype ({_range(recipe)})",
                                     code="range", expected=f"within ±{_range(recipe, True)}"))
    return out


def _weights_beyond(recipe: Recipe, model: Model, base_dir: Path) -> str | None:
    """The first value of the model's weights file that the recipe's dtype cannot hold (1e39 in a float32 recipe),
    as `run` refuses it; None when all fit, or when the file is not readable here (the model's checks say so)."""
    path = model.weights.path  # type: ignore[union-attr]
    try:
        full = resolve_path(base_dir, path)
        values = scan_npz_values(full, list(read_npz_header(full)), MAX_CSV_BYTES)
    except (ValueError, OSError):
        return None
    for name, got in values.items():
        for end in (got.low, got.high):
            if end is not None and abs(end[0]) >= OVERFLOW[recipe.dtype]:
                return (f"`{name}` in weights file `{path}` holds {end[0]:.6g} at index {end[1]}, beyond the range "
                        f"of the recipe's dtype ({_range(recipe)})")
    return None


def _range(recipe: Recipe, bare: bool = False) -> str:
    """The recipe's dtype and its largest finite number, as a run names them."""
    top = "3.40282e+38" if recipe.dtype == "float32" else f"{FLOAT_MAX:.6g}"
    return top if bare else f"{recipe.dtype}: ±{top}"


def _check_batch_norm(recipe: Recipe, graph: ModelGraph, n_train: int | None, ref: str,
                      doc: Located) -> list[Diagnostic]:
    """Batch norm in training needs two or more values per channel (batch x spatial positions)."""
    b = recipe.data.batch_size
    for n in graph.nodes:
        if n.type != "batch_norm":
            continue
        spatial = math.prod(n.input_shapes[0][1:])
        if b * spatial < 2:
            return [_diag(doc, ("data", "batch_size"), f"batch_norm `{n.name}` of the model{ref} normalizes each "
                          f"channel over the batch, and a batch of {plural(b, 'sample')} of shape "
                          f"{list(n.input_shapes[0])} gives it one value per channel", code="range",
                          expected="at least 2")]
        if n_train is not None and not recipe.data.drop_last and n_train % b and (n_train % b) * spatial < 2:
            return [_diag(doc, ("data", "batch_size"), f"the last batch of every epoch holds {n_train % b} sample of "
                          f"the {n_train} training samples, and batch_norm `{n.name}` of the model{ref} needs two or "
                          "more values per channel: set `drop_last: true` or change batch_size", code="range")]
    return []


def _fits(targets: Shape, out: Shape, class_index: bool) -> bool:
    if class_index:
        return targets == out[:-1]
    return targets == out or (targets == () and out == (1,))


def _check_loss(recipe: Recipe, graph: ModelGraph, facts: DataFacts, ref: str, doc: Located) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    loss = recipe.loss
    shape = graph.output_shapes()[0]
    last = shape[-1] if shape else 1
    node = _output_node(graph)
    ends = node.type if node is not None else None
    said = _describe_output(graph, ref)
    sparse = loss.type in CLASS_INDEX_LOSSES
    here = ("loss", "type")

    if loss.type in (*CLASS_INDEX_LOSSES, "categorical_crossentropy") and last < 2:
        out.append(_diag(doc, here, f"`{loss.type}` needs one output per class (at least 2) on the last axis, but "
                         f"{said}", code="loss"))
        return out
    if sparse and facts.target_kind == "onehot":
        i = [p.type for p in recipe.data.preprocessing].index("one_hot")
        out.append(_diag(doc, ("data", "preprocessing", i), f"`{loss.type}` takes class indices; remove the "
                         "`one_hot` step or use `categorical_crossentropy`", code="loss"))
        return out
    if loss.type == "categorical_crossentropy" and facts.target_kind == "class":
        out.append(_diag(doc, here, f"`categorical_crossentropy` needs one-hot targets but {facts.label} gives class "
                         "indices: add `{type: one_hot, num_classes: N}` to data.preprocessing, or use "
                         "`sparse_categorical_crossentropy`", "sparse_categorical_crossentropy", code="loss"))
        return out
    if (sparse or loss.type in ("categorical_crossentropy", "binary_crossentropy")) and \
            recipe.data.source.type == "synthetic_regression":
        out.append(_diag(doc, here, f"`{loss.type}` needs class targets but `synthetic_regression` gives "
                         "real-valued ones; use `mse`, `mae` or `huber`", code="loss"))
        return out

    if facts.targets is not None and not _fits(facts.targets, shape, sparse):
        if sparse:
            need = "[" + ", ".join([*map(str, facts.targets), "C"]) + "]"
            which = ("one class index per sample" if facts.targets == ()
                     else f"class indices of shape {list(facts.targets)} per sample")
            msg = f"the targets are {which}, so the output must be {need} (C classes), but {said}"
        elif facts.targets == () and loss.type == "binary_crossentropy":
            msg = (f"`binary_crossentropy` with one 0/1 target per sample needs an output of shape [1], but {said}"
                   + ("; for one output per class use `sparse_categorical_crossentropy`" if last >= 2 else ""))
        elif facts.target_kind == "onehot":
            i = [p.type for p in recipe.data.preprocessing].index("one_hot")
            out.append(_diag(doc, ("data", "preprocessing", i, "num_classes"), f"one_hot makes targets of shape "
                             f"{list(facts.targets)} per sample but {said}" + _flatten_hint(graph), code="loss"))
            return out
        else:
            msg = f"{facts.label} gives targets of shape {list(facts.targets) or [1]} per sample but {said}"
        out.append(_diag(doc, here, msg + _flatten_hint(graph), code="loss"))
        return out
    if sparse and facts.classes is not None and facts.classes != last:
        out.append(_diag(doc, here, f"{facts.label} has {plural(facts.classes, 'class', 'classes')} but {said} "
                         f"({plural(last, 'value')} per sample on the class axis)", code="loss",
                         expected=f"an output of {plural(facts.classes, 'class', 'classes')}"))
    if loss.type == "categorical_crossentropy" and facts.target_kind == "onehot" and facts.classes != last:
        i = [p.type for p in recipe.data.preprocessing].index("one_hot")
        made = plural(facts.classes, "class", "classes")
        out.append(_diag(doc, ("data", "preprocessing", i, "num_classes"), f"one_hot makes {made} but {said}",
                         code="loss", expected=str(last)))
    out.extend(_check_target_values(loss.type, facts, last, recipe, doc))
    if loss.type == "binary_crossentropy" and facts.target_kind == "class" and facts.classes not in (None, 2):
        out.append(_diag(doc, here, f"`binary_crossentropy` takes 0/1 targets; {facts.label} has {facts.classes} "
                         "classes (use `sparse_categorical_crossentropy`)", "sparse_categorical_crossentropy",
                         code="loss"))
    out.extend(_check_output_activation(recipe, node, ends, shape, said, doc))
    return out


def _check_target_values(loss: str, facts: DataFacts, last: int, recipe: Recipe, doc: Located) -> list[Diagnostic]:
    """A file's target values against the loss: BCE takes [0, 1] (5 would train to a loss of -5e6), class
    indices run from 0 to the number of outputs - 1 (or of one_hot classes)."""
    if facts.target_values is None:
        return []
    (low, low_line), (high, high_line), what = facts.target_values
    where = ("data", "source", "target")
    if loss == "binary_crossentropy" and facts.target_kind != "onehot" and (low < 0 or high > 1):
        bad, line = (low, low_line) if low < 0 else (high, high_line)
        return [_diag(doc, where, f"{what} holds {bad:g} ({line}), but `binary_crossentropy` takes targets "
                      "in [0, 1] (probabilities, or 0/1 labels)", code="data", expected="values in [0, 1]")]
    one_hot = next((p for p in recipe.data.preprocessing if p.type == "one_hot"), None)
    classes = one_hot.num_classes if one_hot is not None else last if loss in CLASS_INDEX_LOSSES else None
    if classes is None:
        return []
    if facts.target_fraction is not None:  # a run: "class targets must be integers"; past it, every one whole
        value, at = facts.target_fraction
        return [_diag(doc, where, f"{what} holds {value:g} ({at}); class indices are whole numbers", code="data",
                      expected=f"class indices 0 to {classes - 1}")]
    if low < 0:
        return [_diag(doc, where, f"{what} holds {int(low)} ({low_line}); class indices are 0 or more",
                      code="data", expected=f"class indices 0 to {classes - 1}")]
    if high >= classes:
        by = "one_hot's num_classes gives" if one_hot is not None else "the model's outputs give"
        return [_diag(doc, where, f"{what} holds class {int(high)} ({high_line}), but {by} {classes} classes "
                      f"(0 to {classes - 1})", code="data", expected=f"class indices 0 to {classes - 1}")]
    return []


def _check_output_activation(recipe: Recipe, node: Node | None, ends: str | None, shape: Shape, said: str,
                             doc: Located) -> list[Diagnostic]:
    """Logits vs probabilities vs log-probabilities: the mistakes that train silently wrong or give NaN."""
    loss = recipe.loss
    axis_last = node is not None and ends in ("softmax", "log_softmax") and \
        node.layer.axis % max(len(shape), 1) == len(shape) - 1  # type: ignore[attr-defined]
    if loss.type == "nll":
        if not (ends == "log_softmax" and axis_last):
            return [_diag(doc, ("loss", "type"), f"`nll` takes log-probabilities over the last axis, but {said}: end "
                          "the model with `{type: log_softmax}`, or use `sparse_categorical_crossentropy` with "
                          "`from_logits: true`", code="loss")]
        return []
    if loss.type in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if not loss.from_logits and not (ends == "softmax" and axis_last):
            return [_diag(doc, ("loss", "from_logits"), f"`from_logits: false` means the model outputs probabilities "
                          f"(a softmax over the last axis), but {said}: end it with `{{type: softmax}}` or set "
                          "`from_logits: true`", "true", code="loss")]
        if loss.from_logits and ends == "softmax":
            return [_diag(doc, ("loss", "from_logits"), f"{said}, which already gives probabilities; "
                          "`from_logits: true` would apply softmax a second time: set `from_logits: false` or "
                          "remove the softmax", "false", code="loss")]
    if loss.type == "binary_crossentropy":
        if not loss.from_logits and ends not in ("sigmoid", "softmax"):
            return [_diag(doc, ("loss", "from_logits"), f"`from_logits: false` means the model outputs probabilities "
                          f"in (0, 1), but {said}: end it with `{{type: sigmoid}}` or set `from_logits: true`",
                          "true", code="loss")]
        if loss.from_logits and ends == "sigmoid":
            return [_diag(doc, ("loss", "from_logits"), f"{said}, which already gives probabilities; "
                          "`from_logits: true` would apply the sigmoid a second time: set `from_logits: false` or "
                          "remove the sigmoid", "false", code="loss")]
    return []

