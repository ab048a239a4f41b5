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

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Support:
    """Whether an adapter runs a construct natively, through a documented subclass, or not at all."""

    status: Literal["native", "subclass", "unsupported"]
    note: str = ""

    @property
    def supported(self) -> bool:
        return self.status != "unsupported"


NATIVE = Support("native")


class UnsupportedConstruct(Exception):
    """Raised by `build` when a model or recipe uses something the adapter declares unsupported."""

    def __init__(self, construct: str, reason: str) -> None:
        self.construct = construct
        self.reason = reason
        super().__init__(f"{construct}: {reason}")


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

    def export(self, path: str | Path, *, format: str = "onnx") -> Path:
        raise UnsupportedConstruct(f"export:{format}", f"{type(self).__name__} cannot export")


class Adapter(ABC):
    """A backend. Subclasses set `name` and are registered by name (built-in) or entry point."""

    name: ClassVar[str]
    levels: ClassVar[tuple[int, ...]] = (1, 2, 3, 4)
    """The conformance levels the adapter can be checked at: (1,) for a runtime that only predicts (the suite
    reports the others unsupported); training adapters run all four."""

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
    """An adapter over a framework whose `support()` answers from two tables, as the built-in ones do.

    `SUBCLASS` (construct -> how a documented subclass or option closes a gap) and `NATIVE_NOTES`
    (construct -> the native class used); every other spec v1 construct is native, the standard's data and
    initializers are prepared before the framework sees them, anything else is unsupported. Subclasses set
    `name`, the tables, `FRAMEWORK` (for messages) and `device_problem`, and call `check_target` in `build`."""

    SUBCLASS: ClassVar[dict[str, str]] = {}
    NATIVE_NOTES: ClassVar[dict[str, str]] = {}
    FRAMEWORK: ClassVar[str] = "framework"
    PART: ClassVar[str | None] = None
    """The registry part holding this adapter's mappings ("torch", "tensorflow"; spec/constructs.py): a construct
    its mapping modules declare in `UNSUPPORTED` is unsupported, with the declared reason."""
    DTYPES: ClassVar[tuple[str, ...]] = ("float32", "float64")

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
        if construct in self.SUBCLASS:
            return Support("subclass", self.SUBCLASS[construct])
        if construct in run:
            return Support("native", self.NATIVE_NOTES.get(construct, ""))
        if construct in prepared:
            return Support("native", "prepared by the standard (data, initial weights) and handed over as arrays")
        return Support("unsupported", f"`{construct}` is not a spec v1 construct")

    def check_target(self, dtype: str, device: str) -> None:
        """UnsupportedConstruct for a device or dtype this adapter cannot build for."""
        problem = self.device_problem(device)
        if problem:
            raise UnsupportedConstruct(f"device:{device}", problem)
        if dtype not in self.DTYPES:
            raise UnsupportedConstruct(f"dtype:{dtype}", f"the {self.FRAMEWORK} adapter runs "
                                                         f"{' and '.join(self.DTYPES)}")
