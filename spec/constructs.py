"""The one registry of Lockstep's constructs: every `type` the spec's pydantic unions accept, its kind, its
model class, and where each of its parts lives, by a predictable name.

A construct is (name, kind, spec model). Its parts, for a layer `<name>` (other kinds: `_LAYOUT` below):

- `reference`: reference/layers/<name>.py (forward, backward); losses, optimizers and schedules likewise in
  reference/<kind>s/<name>.py; clipping, regularization and the prepared kinds: a table in one module;
- `tolerance`: the float32 rules in the same reference file (reduction_length, batch_length, backward_excess,
  magnitude, magnitude_backward; a loss's length/terms/singular; an optimizer's sensitivity, OPS, STATES, ...),
  or one rule for the whole kind (schedules, clipping, regularization; prepared constructs are exact);
- `torch`, `tensorflow`: adapters/<framework>/layers/<name>.py; for the other run kinds an entry of the kind's
  table (`LOSSES`, `OPTIMIZERS`, `SCHEDULES`, `CLIPPING`, `REGULARIZATION`) in adapters/<framework>/<kind>s.py;
  prepared constructs reach every backend as arrays;
- `onnx`: adapters/onnxruntime/layers/<name>.py (layers only: ONNX export carries predictions);
- `strategy`: an entry of conformance/strategies.py's `LAYER_CASES`, `LOSS_CASES`, `OPTIMIZER_CASES`,
  `SCHEDULE_CASES`, `CLIPPING_CASES` or `REGULARIZATION_CASES`;
- `fields`: `Field(description=...)` on every field of its model;
- `docs`: a section (or, for initializers, a table row) naming it in docs/spec/v1.md and, for what a backend
  runs, its normative math (and float32 rules' rows) in docs/spec/v1-semantics.md.

A backend may declare a construct unsupported instead of mapping it: `UNSUPPORTED = {name: reason}` in the
package of the per-construct modules or in the grouped module (tests/test_construct_coverage.py reads both).

This module only *names* the parts (strings): nothing in `spec/` imports the layers above it. `Construct.load`
imports a part when a caller in those layers asks for it, and a missing part is a `MissingPart` whose message
names the file to write (docs/internals.md, "Adding a construct").
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["layer", "loss", "optimizer", "schedule", "warmup", "clipping", "regularization", "initializer",
               "data_source", "preprocessing"]
KINDS: tuple[Kind, ...] = typing.get_args(Kind)
RUN_KINDS: frozenset[str] = frozenset(KINDS[:7])
"""Kinds a backend runs; the others the standard prepares (data, initial weights) and hands over as arrays."""

Part = Literal["reference", "tolerance", "torch", "tensorflow", "onnx", "strategy", "fields", "docs"]
PARTS: tuple[Part, ...] = typing.get_args(Part)

SPEC_PAGE = "docs/spec/v1.md"
SEMANTICS_PAGE = "docs/spec/v1-semantics.md"
GUIDE = "docs/internals.md, \"Adding a construct\""


class MissingPart(KeyError):
    """A construct lacks a part (or a rule of one): the message names the construct and the file to write.
    (A KeyError, as an unknown name always was here, so callers' `except KeyError` keep working.)"""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownConstruct(KeyError):
    """A name the spec does not know (KeyError, so old `except KeyError` callers keep working)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# ------------------------------------------------------------------------------------- where parts live
@dataclass(frozen=True)
class Location:
    """Where one part of a construct lives: its own module (`table` None) or an entry, keyed by the construct's
    name, of the dict `table` in a module that groups a kind. `required`: what the module (or, with `table`, the
    module) must define for this construct; `what`: one line for people, used in MissingPart messages."""

    module: str
    table: str | None = None
    required: tuple[str, ...] = ()
    what: str = ""

    @property
    def file(self) -> str:
        """The repository file of the module (`lockstep.reference.layers.dense` -> reference/layers/dense.py)."""
        return module_file(self.module)


@dataclass(frozen=True)
class Shared:
    """The part is one rule for the whole kind (e.g. every schedule's learning-rate tolerance), at `where`:
    `module[:attribute,...]`, or repository files."""

    where: str
    note: str


@dataclass(frozen=True)
class NotApplicable:
    """The kind has no such part (e.g. ONNX exports predictions: a loss is never exported), and why."""

    reason: str


Placement = Location | Shared | NotApplicable

LAYER_RULES = ("reduction_length", "batch_length", "backward_excess", "magnitude", "magnitude_backward")
LOSS_RULES = ("length", "terms", "singular")
OPTIMIZER_RULES = ("sensitivity", "step_sensitivity", "step_errors", "OPS", "STATES", "W_ROUNDINGS")
_PREPARED = "prepared by the standard (data, initial weights) and handed over to every backend as arrays"
_PREDICTIONS = "ONNX export carries the eval forward only (predictions): nothing here is exported"
_LR_RULE = Shared("lockstep.conformance.tolerance:learning_rate_rule",
                  "the learning rate of every schedule (and warm-up) against its closed form: t + c_f + 4 roundings")
_STEP_RULES = Shared("lockstep.conformance.tolerance:StepTracker,resync_rules",
                     "the gradient's error bound carried through clipping and coupled L2 (StepTracker, resync_rules)")
_NO_CASES = Shared("tests/test_reference_init.py, tests/test_data.py",
                   "prepared constructs are exact (handed over as arrays): tested against the reference, not certified")
_EXACT = Shared("lockstep.conformance.checks", "exact: every backend receives the prepared arrays bit for bit")


def _own(pattern: str, required: tuple[str, ...], what: str) -> typing.Callable[[str], Location]:
    return lambda name: Location(pattern.format(name=name), None, required, what)


def _entry(module: str, table: str, what: str) -> typing.Callable[[str], Location]:
    return lambda name: Location(module, table, (), what)


def _always(p: Placement) -> typing.Callable[[str], Placement]:
    return lambda name: p


_LAYOUT: dict[str, dict[str, typing.Callable[[str], Placement]]] = {
    "layer": {
        "reference": _own("lockstep.reference.layers.{name}", ("forward", "backward"),
                          "forward(layer, inputs, params, ctx) -> (output, cache) and "
                          "backward(layer, grad_output, cache) -> (input_grads, param_grads)"),
        "tolerance": _own("lockstep.reference.layers.{name}", LAYER_RULES,
                          "the float32 rules next to the math: reduction_length(layer, input_shapes, *, training, "
                          "batch), batch_length(layer, input_shapes, batch), backward_excess(layer, input_shapes), "
                          "magnitude(...), magnitude_backward(...)"),
        "torch": _own("lockstep.adapters.torch.layers.{name}", ("build",),
                      "build(layer, input_shapes, dtype) -> nn.Module (+ slots/buffer_slots with parameters)"),
        "tensorflow": _own("lockstep.adapters.tensorflow.layers.{name}", ("build", "LAYOUT"),
                           "LAYOUT and build(layer, input_shapes, dtype, channels_last) -> keras.layers.Layer"),
        "onnx": _own("lockstep.adapters.onnxruntime.layers.{name}", ("export", "OP"),
                     "OP and export(g, node, inputs, params) -> output name"),
        "strategy": _entry("lockstep.conformance.strategies", "LAYER_CASES",
                           "a hypothesis strategy of (input shape, layer fields)"),
    },
    "loss": {
        "reference": _own("lockstep.reference.losses.{name}", ("forward", "backward"),
                          "forward(loss, prediction, target) -> (value, cache) and backward(loss, cache) -> grad"),
        "tolerance": _own("lockstep.reference.losses.{name}", LOSS_RULES,
                          "length(loss, shape), terms(loss, prediction, target, a_pred) and "
                          "singular(loss, prediction, target, error)"),
        "torch": _entry("lockstep.adapters.torch.losses", "LOSSES", "fn(loss, output_rank) -> (prediction, target) "
                                                                    "-> scalar"),
        "tensorflow": _entry("lockstep.adapters.tensorflow.losses", "LOSSES", "fn(loss, dtype) -> (prediction, "
                                                                              "target) -> scalar"),
        "onnx": _always(NotApplicable(_PREDICTIONS)),
        "strategy": _entry("lockstep.conformance.strategies", "LOSS_CASES", "fields(draw, loss) for loss_case"),
    },
    "optimizer": {
        "reference": _own("lockstep.reference.optimizers.{name}", ("init_state", "step", "state_names"),
                          "state_names(opt), init_state(opt, param) and step(opt, param, grad, state, lr, t)"),
        "tolerance": _own("lockstep.reference.optimizers.{name}", OPTIMIZER_RULES,
                          "sensitivity, step_sensitivity, step_errors, OPS, STATES ({state: linear | quadratic | "
                          "directions}) and W_ROUNDINGS"),
        "torch": _entry("lockstep.adapters.torch.optimizers", "OPTIMIZERS", "fn(opt, params, l2) -> torch.optim "
                                                                            "optimizer"),
        "tensorflow": _entry("lockstep.adapters.tensorflow.optimizers", "OPTIMIZERS",
                             "fn(opt, learning_rate) -> keras optimizer"),
        "onnx": _always(NotApplicable(_PREDICTIONS)),
        "strategy": _entry("lockstep.conformance.strategies", "OPTIMIZER_CASES", "fields(draw, opt) for "
                                                                                 "optimizer_case"),
    },
    "schedule": {
        "reference": _own("lockstep.reference.schedules.{name}", ("learning_rate",),
                          "learning_rate(schedule, base, t, ops=SCALAR)"),
        "tolerance": _always(_LR_RULE),
        "torch": _entry("lockstep.adapters.torch.schedules", "SCHEDULES", "fn(schedule, opt) -> LRScheduler | None"),
        "tensorflow": _entry("lockstep.adapters.tensorflow.schedules", "SCHEDULES",
                             "fn(schedule, base, t) -> float64 tensor (usually the reference's formula on tf ops)"),
        "onnx": _always(NotApplicable(_PREDICTIONS)),
        "strategy": _entry("lockstep.conformance.strategies", "SCHEDULE_CASES", "fields(draw, sched) for "
                                                                                "schedule_case"),
    },
    "warmup": {
        "reference": _own("lockstep.reference.schedules.{name}", ("factor",), "factor(warmup, t, ops=SCALAR)"),
        "tolerance": _always(_LR_RULE),
        "torch": _entry("lockstep.adapters.torch.schedules", "SCHEDULES", "fn(warmup, opt) -> LRScheduler"),
        "tensorflow": _entry("lockstep.adapters.tensorflow.schedules", "SCHEDULES", "fn(warmup, base, t) -> "
                                                                                    "float64 tensor"),
        "onnx": _always(NotApplicable(_PREDICTIONS)),
        "strategy": _entry("lockstep.conformance.strategies", "SCHEDULE_CASES", "fields(draw, sched)"),
    },
    "clipping": {
        "reference": _entry("lockstep.reference.clipping", "CLIPPING", "fn(grads, clipping, norm) -> grads"),
        "tolerance": _always(_STEP_RULES),
        "torch": _entry("lockstep.adapters.torch.clipping", "CLIPPING", "fn(params, clipping, norm, norm_value)"),
        "tensorflow": _entry("lockstep.adapters.tensorflow.clipping", "CLIPPING", "fn(grads, clipping, norm) -> "
                                                                                  "grads (in-graph)"),
        "onnx": _always(NotApplicable(_PREDICTIONS)),
        "strategy": _entry("lockstep.conformance.strategies", "CLIPPING_CASES", "fn(draw) -> clipping fields"),
    },
    "regularization": {
        "reference": _entry("lockstep.reference.optimizers", "REGULARIZATION", "fn(grad, param, coefficient)"),
        "tolerance": _always(_STEP_RULES),
        "torch": _entry("lockstep.adapters.torch.optimizers", "REGULARIZATION", "where the term is added"),
        "tensorflow": _entry("lockstep.adapters.tensorflow.optimizers", "REGULARIZATION", "fn(grads, variables, "
                                                                                          "coefficient)"),
        "onnx": _always(NotApplicable(_PREDICTIONS)),
        "strategy": _entry("lockstep.conformance.strategies", "REGULARIZATION_CASES", "fn(draw) -> coefficient"),
    },
    "initializer": {
        "reference": _entry("lockstep.reference.initializers", "INITIALIZERS", "fn(init, spec, rng) -> array"),
        "tolerance": _always(_EXACT), "torch": _always(Shared("lockstep.adapters.base", _PREPARED)),
        "tensorflow": _always(Shared("lockstep.adapters.base", _PREPARED)),
        "onnx": _always(NotApplicable(_PREPARED)), "strategy": _always(_NO_CASES),
    },
    "data_source": {
        "reference": _entry("lockstep.reference.data", "SOURCES", "fn(source, recipe, base_dir) -> (x, y)"),
        "tolerance": _always(_EXACT), "torch": _always(Shared("lockstep.adapters.base", _PREPARED)),
        "tensorflow": _always(Shared("lockstep.adapters.base", _PREPARED)),
        "onnx": _always(NotApplicable(_PREPARED)), "strategy": _always(_NO_CASES),
    },
    "preprocessing": {
        "reference": _entry("lockstep.reference.data", "PREPROCESSING", "what the step transforms"),
        "tolerance": _always(_EXACT), "torch": _always(Shared("lockstep.adapters.base", _PREPARED)),
        "tensorflow": _always(Shared("lockstep.adapters.base", _PREPARED)),
        "onnx": _always(NotApplicable(_PREPARED)), "strategy": _always(_NO_CASES),
    },
}

_DOCS: dict[str, str] = {  # how docs/spec/v1.md names a construct's section: a heading, or a table row
    "warmup": "heading:Warm-up", "regularization": "heading:Regularization", "initializer": "row:`{name}`"}


def module_file(module: str) -> str:
    """A `lockstep.<part>...` module's file in the repository (each part is a top-level folder; `lockstep.x` is
    lockstep/x.py); packages are their __init__.py when importable."""
    parts = module.split(".")
    top = parts[1:] if parts[0] == "lockstep" and len(parts) > 1 and parts[1] in _FOLDERS else parts
    spec = None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        pass
    tail = "/__init__.py" if spec is not None and spec.submodule_search_locations is not None else ".py"
    return "/".join(top) + tail


_FOLDERS = frozenset({"spec", "reference", "adapters", "conformance", "examples"})


# ------------------------------------------------------------------------------------------- constructs
@dataclass(frozen=True)
class Construct:
    """One construct of the spec: its `type` name (and other names the spec accepts for it), kind and model."""

    name: str
    kind: Kind
    model: type | None = field(compare=False)
    aliases: tuple[str, ...] = ()

    @property
    def runs(self) -> bool:
        """Whether a backend runs it (layers, losses, ...), rather than the standard preparing it."""
        return self.kind in RUN_KINDS

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def where(self, part: Part) -> Placement:
        """Where `part` lives for this construct (a Location), or why it is shared or does not apply."""
        if part in ("fields", "docs"):
            return Location("lockstep.spec", None, (), "field descriptions" if part == "fields" else SPEC_PAGE)
        try:
            return _LAYOUT[self.kind][part](self.name)
        except KeyError:
            raise KeyError(f"no part `{part}`; parts: {', '.join(PARTS)}") from None

    @property
    def semantics_name(self) -> str | None:
        """How docs/spec/v1-semantics.md names it (None: prepared constructs are stated in docs/spec/v1.md)."""
        return None if not self.runs else "warm-up" if self.kind == "warmup" else self.name

    @property
    def docs_anchor(self) -> tuple[str, str]:
        """("heading" | "row", text): the heading or table row of docs/spec/v1.md that states this construct."""
        style, _, text = _DOCS.get(self.kind, "heading:`{name}`").partition(":")
        return style, text.format(name=self.name)

    def load(self, part: Part, *, rules: tuple[str, ...] | None = None) -> Any:
        """The part itself: the construct's own module, or its entry in the kind's table. With `rules`, each
        must be defined (the Location's `required` by default). Raises MissingPart naming the file to write."""
        loc = self.where(part)
        if not isinstance(loc, Location):
            raise MissingPart(f"{self.describe()} has no {part} part of its own: "
                              f"{loc.reason if isinstance(loc, NotApplicable) else loc.note}")
        try:
            module = importlib.import_module(loc.module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not loc.module.startswith(exc.name):
                raise  # the module exists but imports something missing: not our message to give
            raise MissingPart(self._write(part, loc, "")) from None
        if loc.table is not None:
            table = getattr(module, loc.table, None)
            if table is None or self.name not in table:
                raise MissingPart(self._write(part, loc, f"an entry `{self.name}` in `{loc.table}` of "))
            return table[self.name]
        needed = loc.required if rules is None else rules
        missing = [r for r in needed if not hasattr(module, r)]
        if missing:
            raise MissingPart(self._write(part, loc, f"{', '.join(f'`{m}`' for m in missing)} in "))
        return module

    def unsupported(self, part: Part) -> str | None:
        """The reason a backend part declares this construct unsupported (`UNSUPPORTED = {name: reason}` in the
        package of its per-construct modules, or in the kind's grouped module), or None."""
        loc = self.where(part)
        if not isinstance(loc, Location):
            return None
        home = loc.module.rsplit(".", 1)[0] if loc.table is None else loc.module
        try:
            declared = getattr(importlib.import_module(home), "UNSUPPORTED", {})
        except ModuleNotFoundError:
            return None
        return next((str(declared[n]) for n in self.names if n in declared), None)

    def rule(self, part: Part, name: str) -> Any:
        """One rule (function or constant) of the construct's own module for `part`, or MissingPart."""
        return getattr(self.load(part, rules=(name,)), name)

    def describe(self) -> str:
        return f"{self.kind.replace('_', ' ')} `{self.name}`"

    def _write(self, part: str, loc: Location, what: str) -> str:
        where = f"{what}{loc.file}" if what else f"{loc.file}"
        unsupported = (f" (or declare it unsupported, with the reason, in `UNSUPPORTED` of "
                       f"{module_file(loc.module.rsplit('.', 1)[0] if loc.table is None else loc.module)})"
                       if part in ("torch", "tensorflow", "onnx") else "")
        return (f"{self.describe()} has no {part} part: write {where}{f' ({loc.what})' if loc.what else ''}"
                f"{unsupported}; see {GUIDE}")


def _union_members(annotation: object) -> tuple[type, ...]:
    """The model classes of an `Annotated[Union[...], Field(discriminator=...)]`."""
    inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
    return typing.get_args(inner) or (inner,)  # type: ignore[return-value]


def _type_names(model: type) -> tuple[str, ...]:
    return tuple(a for a in typing.get_args(model.model_fields["type"].annotation) if isinstance(a, str))  # type: ignore[attr-defined]


@functools.cache
def constructs() -> tuple[Construct, ...]:
    """Every construct of spec v1, kind by kind (KINDS order), each kind in its union's order."""
    from lockstep.spec import data, documents, initializers, layers, losses, optimizers, schedules

    unions: list[tuple[Kind, tuple[type, ...]]] = [
        ("layer", layers.LAYER_CLASSES), ("loss", _union_members(losses.Loss)),
        ("optimizer", _union_members(optimizers.Optimizer)), ("schedule", _union_members(schedules.Schedule)),
    ]
    out: list[Construct] = []
    for kind, members in unions:
        out += [Construct(n, kind, m) for m in members for n in _type_names(m)]
    out.append(Construct("warmup", "warmup", schedules.Warmup))
    out += [Construct(n, "clipping", m) for m in _union_members(schedules.GradientClipping) for n in _type_names(m)]
    out.append(Construct("l2", "regularization", documents.Regularization))
    for kind, union in (("initializer", initializers.Initializer), ("data_source", data.Source),
                        ("preprocessing", data.Preprocessing)):
        for m in _union_members(union):
            first, *others = _type_names(m)
            out.append(Construct(first, kind, m, tuple(others)))  # type: ignore[arg-type]
    return tuple(out)


def of_kind(kind: Kind) -> tuple[Construct, ...]:
    """The constructs of one kind, in their union's order."""
    if kind not in KINDS:
        raise KeyError(f"no kind `{kind}`; kinds: {', '.join(KINDS)}")
    return tuple(c for c in constructs() if c.kind == kind)


def names(kind: Kind) -> tuple[str, ...]:
    """The type names of one kind (aliases included), in their union's order."""
    return tuple(n for c in of_kind(kind) for n in c.names)


@functools.cache
def _named() -> dict[str, tuple[Construct, ...]]:
    """Every spec name (aliases included) -> its constructs, in `constructs()` order (`get` is on hot paths: the
    re-synchronized judgement looks up each layer's rules every step)."""
    out: dict[str, list[Construct]] = {}
    for c in constructs():
        for n in c.names:
            out.setdefault(n, []).append(c)
    return {n: tuple(cs) for n, cs in out.items()}


def get(name: str, kind: Kind | None = None) -> Construct:
    """The construct called `name` (of `kind`, where a name is used by two kinds: `constant` is a schedule and an
    initializer; without `kind` the one a backend runs). UnknownConstruct names the closest spec names."""
    found = [c for c in _named().get(name, ()) if kind is None or c.kind == kind]
    if found:
        return sorted(found, key=lambda c: not c.runs)[0]
    import difflib

    pool = names(kind) if kind in KINDS else tuple(n for c in constructs() for n in c.names)
    close = difflib.get_close_matches(name, pool, n=3)
    hint = f"; did you mean {' or '.join(f'`{c}`' for c in close)}?" if close else ""
    raise UnknownConstruct(f"`{name}` is not a spec v1 {(kind or 'construct').replace('_', ' ')}{hint}")


@functools.cache
def construct_names() -> tuple[frozenset[str], frozenset[str]]:
    """(constructs a backend runs: layers, losses, optimizers, schedules, clipping, `warmup`, `l2`;
    constructs the standard prepares before any backend sees them: data sources, preprocessing, initializers)."""
    run = {n for c in constructs() if c.runs for n in c.names}
    prepared = {n for c in constructs() if not c.runs for n in c.names}
    return frozenset(run), frozenset(prepared - run)
