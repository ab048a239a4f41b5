"""The adapter protocol: what every backend (reference, torch, tensorflow, third parties) implements.

The runner and the conformance suite talk to every backend through this one interface, so a
third-party adapter is certified by exactly the code path that runs the built-in ones.
All arrays crossing this boundary are NumPy arrays in canonical names and layouts (docs/internals.md);
parameters and gradients come back as float64 copies whatever the backend computes in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from lockstep.spec.wording import digits

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

Arrays = dict[str, np.ndarray]


Provenance = Literal["native", "bridged", "written"]
PROVENANCES: tuple[Provenance, ...] = ("native", "bridged", "written")
"""What a certificate's verdict on a construct is evidence about (docs/adapters.md, "Provenance"):

- `native`: the framework's own op or class computes it, named in the note (`torch.optim.Adam`,
  `keras.layers.Conv2D`); the adapter only passes the standard's parameters and converts layouts;
- `bridged`: the framework's own op or class, with an adjustment the note states (ε scaled per step, a
  max_norm rescaled to cancel torch's 1e-6, an explicit pad in front of the native convolution);
- `written`: the adapter's own math (in framework ops or not), with the reason no native form fits.

A construct whose configurations differ (Keras SGD: native without momentum, written with it) declares the
least native of them, and its note says which configuration is which: a verdict never claims more than the
cases it covers."""


@dataclass(frozen=True)
class Support:
    """Whether an adapter runs a construct, and if so its provenance (`native`, `bridged`, `written`), with a
    note naming the framework class or op, the adjustment, or the reason; `unsupported` with the reason.

    `status="subclass"` (the vocabulary before provenance) is read as `written`: a claim nobody stated is
    never counted as native."""

    status: Literal["native", "bridged", "written", "unsupported", "subclass"]
    note: str = ""

    def __post_init__(self) -> None:
        if self.status == "subclass":
            object.__setattr__(self, "status", "written")
        if self.status not in (*PROVENANCES, "unsupported"):
            raise ValueError(f"support status `{self.status}`: expected one of {', '.join(PROVENANCES)} or "
                             f"unsupported")

    @property
    def supported(self) -> bool:
        return self.status != "unsupported"

    @property
    def provenance(self) -> Provenance | None:
        """native, bridged or written; None when unsupported."""
        return None if self.status == "unsupported" else self.status  # type: ignore[return-value]

    def label(self) -> str:
        """`native: torch.optim.Adam`, the form reports show beside a verdict."""
        return self.status + (f": {self.note}" if self.note else "")


def native(note: str) -> Support:
    """The framework's own op or class, named in `note`."""
    return Support("native", note)


def bridged(note: str) -> Support:
    """The framework's own op or class with an adjustment: `note` names both."""
    return Support("bridged", note)


def written(note: str) -> Support:
    """The adapter's own math: `note` says what and why no native form fits."""
    return Support("written", note)


NATIVE = Support("native")
PREPARED = written("prepared by the standard (data, initial weights) and handed over as arrays: no framework "
                   "code computes it")
UNDECLARED = written("no provenance declared for this construct (counted as written)")


def embedding_index_limits(graph: Any) -> dict[str, int]:
    """Model input -> the smallest `input_dim` of the embeddings it feeds: the indices a session must refuse outside
    [0, limit) itself where its framework does not (a CUDA assert poisons torch's context; Keras's `take` wraps a
    negative index to the table's end, the standard's error)."""
    limits: dict[str, int] = {}
    for node in graph.nodes:
        if node.type == "embedding":
            for src in node.inputs:
                if src in graph.input_shapes:
                    limits[src] = min(limits.get(src, node.layer.input_dim), node.layer.input_dim)
    return limits


def check_indices(name: str, values: Any, limit: int) -> None:
    """IndexError where the array `values` of input `name` holds an index outside [0, limit)."""
    import numpy as np

    a = np.asarray(values)
    if a.size and (a.min() < 0 or a.max() >= limit):
        raise IndexError(f"input `{name}` holds indices outside [0, {limit})")


def unknown_device(device: str, gpu: tuple[str, ...] = ("cuda",)) -> str | None:
    """Why `device` is no device name of the standard's (`cpu`, `cuda`, `cuda:N`; `gpu` names are an adapter's
    aliases), or None: one rule for every adapter (TensorFlow took `cpu:1` and `cuda:-1` as names)."""
    kind, colon, index = device.partition(":")
    if (kind == "cpu" and not colon) or (kind in gpu and (not colon or digits(index))):
        return None
    return f"unknown device `{device}` ({', '.join(('cpu', *gpu))} or {gpu[0]}:N)"


class UnsupportedConstruct(Exception):
    """Raised by `build` when a model or recipe uses something the adapter declares unsupported."""

    def __init__(self, construct: str, reason: str, *, layer: str | None = None) -> None:
        self.construct = construct
        self.reason = reason
        self.layer = layer  # the model's layer that uses it, where one does (a model may have several of a type)
        super().__init__(f"{construct}: {reason}")

    def subject(self) -> str:
        """What is refused, for a message: `layer `gelu_2` (gelu)` where a layer was named, else the construct."""
        return f"layer `{self.layer}` ({self.construct})" if self.layer else self.construct


def layer_part(type_name: str, part: str, unsupported: dict[str, str], missing: str) -> Any:
    """A backend's module for a spec layer type (`adapters/<backend>/layers/<type>.py`, found through the construct
    registry, whose MissingPart names the file to write). A type the backend declares in `unsupported` raises
    UnsupportedConstruct with its reason (the suite reports it unsupported, a run refuses it by name); a name
    that is no spec layer raises KeyError(`missing`)."""
    from lockstep.spec import constructs

    if type_name in unsupported:
        raise UnsupportedConstruct(type_name, unsupported[type_name])
    if type_name not in constructs.names("layer"):
        raise KeyError(missing)
    return constructs.get(type_name, "layer").load(part)


class NonFiniteError(ArithmeticError):
    """A step produced a non-finite loss or gradient; raised before any parameter changes."""

    def __init__(self, quantity: str) -> None:
        self.quantity = quantity
        super().__init__(f"non-finite {quantity}")


@dataclass
class TrainingState:
    """Everything a training step depends on besides its batch and dropout masks: the optimizer step count
    (the schedule's position, Adam's bias-correction t), parameters and buffers, and every optimizer state.

    `lockstep compare` hands the reference's state after step k-1 to each backend to judge its step k
    (docs/spec/v1-semantics.md, "Re-synchronized comparison"); canonical names and layouts, float64."""

    step: int
    parameters: Arrays  # parameters and buffers
    optimizer: dict[str, Arrays] = field(default_factory=dict)  # {param: {canonical state name: array}}

    def copy(self) -> TrainingState:
        """A deep copy (sessions may update arrays in place)."""
        return TrainingState(int(self.step), {k: np.array(v, dtype=np.float64) for k, v in self.parameters.items()},
                             {p: {n: np.array(a, dtype=np.float64) for n, a in s.items()}
                              for p, s in self.optimizer.items()})


@dataclass
class StepResult:
    loss: float
    learning_rate: float
    grad_norm: float | None = None  # global gradient norm before clipping, where computed
    extras: dict[str, Any] = field(default_factory=dict)


class Session(ABC):
    """One model on one device in one dtype, optionally configured to train with a recipe."""

    @abstractmethod
    def set_parameters(self, params: Arrays) -> None:
        """Set parameters and buffers from canonical names/layouts (missing names are errors)."""

    @abstractmethod
    def get_parameters(self) -> Arrays:
        """Parameters and buffers, canonical names and layouts, float64 copies."""

    @abstractmethod
    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        """Model output (float64 copy). In training mode batch-norm buffers update, as the framework does."""

    @abstractmethod
    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        """Training-mode forward, the recipe's loss, and d loss / d parameter (canonical), no update."""

    @abstractmethod
    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        """Forward, loss, backward, clipping, coupled L2, one optimizer step, schedule advance.

        Raises NonFiniteError (naming the loss or the parameter whose gradient) before updating anything."""

    @abstractmethod
    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        """(optimizer steps taken, {canonical param name: {canonical state name: float64 array}})."""

    @abstractmethod
    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        """Inverse of get_optimizer_state (used by resume); the schedule continues from `step`."""

    def get_state(self) -> TrainingState:
        """The full training state (parameters, buffers, optimizer state, step count), float64 copies.

        The default is built on `get_parameters` and `get_optimizer_state`; a session may override it with a
        faster path (one transfer instead of one per tensor), returning the same values."""
        step, optimizer = self.get_optimizer_state()
        return TrainingState(step, self.get_parameters(), optimizer)

    def set_state(self, state: TrainingState) -> None:
        """Load a full training state: after it, `train_step` computes exactly the step that follows `state`
        (the same learning rate, bias corrections, momentum buffers and batch-norm statistics).

        The default is built on `set_parameters` and `set_optimizer_state`, so an adapter that restores
        checkpoints already supports it; override it where a faster path exists."""
        self.set_parameters(state.parameters)
        self.set_optimizer_state(state.step, state.optimizer)

    def step_from(self, state: TrainingState, x: np.ndarray | Arrays, y: np.ndarray, *,
                  masks: Arrays | None = None) -> tuple[StepResult, TrainingState]:
        """One training step from `state` (another trajectory's: the reference's, in `lockstep compare`): its
        result and the state after it. This session's own state is left as it was, so its own trajectory goes
        on undisturbed. Raises NonFiniteError like `train_step`.

        The default is `set_state`, `train_step`, `get_state` and `set_state` back; a session may do it in
        fewer transfers (one compiled call), or on a second model of its own."""
        own = self.get_state()
        self.set_state(state)
        try:
            result = self.train_step(x, y, masks=masks)
            return result, self.get_state()
        finally:
            self.set_state(own)

    def expect_few_calls(self) -> None:
        """A hint that this session will serve a few calls only (one generated conformance case). A session that
        compiles its entry points may then run them uncompiled, with the same kernels, where compiling would
        cost more than it saves, and say so in `execution`. The default ignores it."""
        return None

    @property
    def execution(self) -> str:
        """How this session runs its calls, in a word for certificates (`eager`, `compiled`); "" if unstated."""
        return ""

    def export(self, path: str | Path, *, format: str = "onnx") -> Path:
        raise UnsupportedConstruct(f"export:{format}", f"{type(self).__name__} cannot export")


class Adapter(ABC):
    """A backend. Subclasses set `name` and are registered by name (built-in) or entry point."""

    name: ClassVar[str]
    levels: ClassVar[tuple[int, ...]] = (1, 2, 3, 4)
    """The conformance levels the adapter can be checked at: (1,) for a runtime that only predicts (the suite
    reports the others unsupported); training adapters run all four."""
    EXECUTION: ClassVar[str] = ""
    """How the adapter's sessions run their calls, in a sentence (`lockstep adapters --details`): a certificate's
    verdicts are evidence about that execution (eager ops, a compiled graph, an exported model), and each check
    records the mode its session ran in (`Session.execution`). "" if unstated."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Framework and adapter versions, for reports."""

    @abstractmethod
    def devices(self) -> list[str]:
        """Devices usable right now, e.g. ["cpu", "cuda:0"]."""

    @abstractmethod
    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        """Construct names are spec type names: "dense", "adam", "huber", "cosine", "global_norm", ..."""

    @abstractmethod
    def build(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None) -> Session:
        """A session for `model`. With a recipe, the session can train (loss, optimizer, schedule, ...)."""

    def configure_threads(self, intra_op: int, inter_op: int = 1) -> dict[str, Any]:
        """Set the framework's CPU thread pools (process-wide) before `build`; returns the settings in effect
        (recorded in reports: float32 results may depend on them). The default does nothing and returns {}."""
        return {}


class FrameworkAdapter(Adapter):
    """An adapter over a framework whose `support()` answers from one table, as the built-in ones do.

    `PROVENANCE`: construct -> `native(...)`, `bridged(...)` or `written(...)` (adapters/base.py), or a dict
    {dtype: one of those} where the dtype changes the answer. Every construct a backend runs must be declared
    (tests/test_provenance.py); one that is not reads `written` ("no provenance declared"). The standard's data
    and initializers are prepared before the framework sees them (`written`, by the standard); a construct the
    registry part's mapping modules declare in `UNSUPPORTED` is unsupported, with the reason; anything else is
    unsupported. (`SUBCLASS` and `NATIVE_NOTES`, the tables before provenance, are still read, as `written` and
    `native`.) Subclasses set `name`, the table, `FRAMEWORK` (for messages) and `device_problem`, and call
    `check_target` in `build`."""

    PROVENANCE: ClassVar[dict[str, Support | dict[str, Support]]] = {}
    SUBCLASS: ClassVar[dict[str, str]] = {}
    NATIVE_NOTES: ClassVar[dict[str, str]] = {}
    FRAMEWORK: ClassVar[str] = "framework"
    PART: ClassVar[str | None] = None
    """The registry part holding this adapter's mappings ("torch", "tensorflow"; spec/constructs.py): a construct
    its mapping modules declare in `UNSUPPORTED` is unsupported, with the declared reason."""
    DTYPES: ClassVar[tuple[str, ...]] = ("float32", "float64")

    def declared(self, construct: str, dtype: str) -> Support | None:
        """The provenance this adapter declares for `construct` in `dtype`, or None where it declares none."""
        entry = self.PROVENANCE.get(construct)
        if isinstance(entry, dict):
            entry = entry.get(dtype)
        if entry is not None:
            return entry
        if construct in self.SUBCLASS:
            return written(self.SUBCLASS[construct])
        if construct in self.NATIVE_NOTES:
            return native(self.NATIVE_NOTES[construct])
        return None

    def device_problem(self, device: str) -> str | None:
        """Why `device` cannot be used here, or None."""
        return None if device == "cpu" else f"{self.FRAMEWORK} runs on the CPU only here"

    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        from lockstep.spec.constructs import construct_names

        problem = self.device_problem(device)
        if problem:
            return Support("unsupported", problem)
        if dtype not in self.DTYPES:
            return Support("unsupported", f"dtype {dtype}: the adapter runs {' and '.join(self.DTYPES)}")
        run, prepared = construct_names()
        if self.PART is not None and construct in run:
            from lockstep.spec.constructs import get

            reason = get(construct).unsupported(self.PART)  # type: ignore[arg-type]
            if reason:
                return Support("unsupported", reason)
        if construct in run:
            return self.declared(construct, dtype) or UNDECLARED
        if construct in prepared:
            return PREPARED
        return Support("unsupported", f"`{construct}` is not a spec v1 construct")

    def check_target(self, dtype: str, device: str) -> None:
        """UnsupportedConstruct for a device or dtype this adapter cannot build for."""
        problem = self.device_problem(device)
        if problem:
            raise UnsupportedConstruct(f"device:{device}", problem)
        if dtype not in self.DTYPES:
            raise UnsupportedConstruct(f"dtype:{dtype}", f"the {self.FRAMEWORK} adapter runs "
                                                         f"{' and '.join(self.DTYPES)}")


def provenance_table(adapter: Adapter, dtypes: tuple[str, ...] = ("float32", "float64"), device: str = "cpu",
                     *, strict: bool = True) -> list[tuple[str, str, dict[str, Any]]]:
    """(construct, kind, {dtype: Support}) for every construct a backend runs (spec/constructs.py's order):
    `lockstep adapters --details` and the provenance tests read the adapter's declarations through it, checked
    (adapters/checked.py). A support() that raises or answers no Support raises SupportError, or, with
    `strict=False`, stands in its cell as that SupportError (a listing shows the other constructs)."""
    from lockstep.adapters.checked import SupportError, checked_support
    from lockstep.spec.constructs import constructs

    def cell(construct: str, dtype: str) -> Support | SupportError:
        try:
            return checked_support(adapter, construct, dtype=dtype, device=device)
        except SupportError as exc:
            if strict:
                raise
            return exc

    return [(c.name, c.kind, {dt: cell(c.name, dt) for dt in dtypes}) for c in constructs() if c.runs]
