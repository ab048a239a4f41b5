"""The Lockstep adapter for acme: spec constructs onto acme's own modules, in canonical names and layouts.

The math lives in acme (framework.py); this module only translates: the Model and Recipe documents into acme
modules, Lockstep's canonical parameter layouts into acme's and back, dtypes, devices. What acme cannot run is
declared by `support()` and refused by `build()` with UnsupportedConstruct, so that `lockstep certify` reports
it as unsupported instead of failing it. The protocol is lockstep.adapters.base (docs/adapters.md).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from acme_lockstep import framework as acme
from lockstep.adapters.base import (
    PREPARED,
    Adapter,
    Arrays,
    NonFiniteError,
    Session,
    StepResult,
    Support,
    UnsupportedConstruct,
    native,
)

if TYPE_CHECKING:
    from lockstep.spec.documents import Model, Recipe

SUPPORTED = {  # spec v1 type names acme runs, each with the acme class that computes it (its provenance's note)
    "dense": "acme.Linear", "relu": "acme.ReLU", "tanh": "acme.Tanh", "mse": "acme.MSELoss", "sgd": "acme.SGD",
    "constant": "acme.ConstantLR", "warmup": "acme.ConstantLR's warm-up",
}
DTYPES = {"float32": np.float32, "float64": np.float64}
REASONS = {  # why acme does not run a construct, where there is more to say than "not in the subset"
    "global_norm": "acme has no gradient clipping",
    "value": "acme has no gradient clipping",
    "l2": "acme has no coupled L2 regularization",
    "add": "acme runs sequential models only (no graphs)",
    "concat": "acme runs sequential models only (no graphs)",
}


@functools.cache
def _prepared_by_the_standard() -> frozenset[str]:
    """Data sources, preprocessing and initializers: Lockstep prepares them and hands acme plain arrays."""
    from typing import get_args

    from lockstep.spec import data, initializers

    models = [obj for module in (data, initializers) for obj in vars(module).values()
              if isinstance(obj, type) and "type" in getattr(obj, "model_fields", {})]
    return frozenset(a for cls in models for a in get_args(cls.model_fields["type"].annotation))


class AcmeAdapter(Adapter):
    """acme on the CPU, float32 and float64; a subset of spec v1 (SUPPORTED)."""

    name = "acme"

    def versions(self) -> dict[str, str]:
        from acme_lockstep import __version__

        return {"acme": acme.__version__, "acme-lockstep-adapter": __version__, "numpy": np.__version__}

    def devices(self) -> list[str]:
        return ["cpu"]

    def support(self, construct: str, *, dtype: str = "float32", device: str = "cpu") -> Support:
        if device != "cpu":
            return Support("unsupported", "acme runs on the CPU only")
        if dtype not in DTYPES:
            return Support("unsupported", f"acme computes in float32 or float64, not {dtype}")
        if construct in SUPPORTED:
            return native(SUPPORTED[construct])
        if construct in _prepared_by_the_standard():
            return PREPARED
        return Support("unsupported", REASONS.get(construct, f"not in acme {acme.__version__}'s subset"))

    def build(self, model: Model, *, dtype: str, device: str = "cpu", recipe: Recipe | None = None) -> Session:
        if device != "cpu":
            raise UnsupportedConstruct(f"device:{device}", "acme runs on the CPU only")
        if dtype not in DTYPES:
            raise UnsupportedConstruct(f"dtype:{dtype}", "acme computes in float32 or float64")
        layers = model.layers if model.layers is not None else model.nodes or []
        for layer in layers:  # the first construct acme lacks, named as the suite and the runner expect
            self._require(layer.type, dtype, device)
        if model.layers is None:
            raise UnsupportedConstruct("graph", "acme runs sequential models (`layers`) only")
        (x,) = model.inputs if len(model.inputs) == 1 else (None,)
        if x is None or x.dtype != "float" or not x.shape:
            raise UnsupportedConstruct("inputs", "acme models take one float input with a feature axis")
        if recipe is not None:
            self._require(recipe.loss.type, dtype, device)
            self._require(recipe.optimizer.type, dtype, device)
            self._require(recipe.schedule.type, dtype, device)
            if recipe.gradient_clipping is not None:
                self._require(recipe.gradient_clipping.type, dtype, device)
            if recipe.regularization.l2:
                self._require("l2", dtype, device)
        return AcmeSession(model, DTYPES[dtype], recipe)

    def _require(self, construct: str, dtype: str, device: str) -> None:
        support = self.support(construct, dtype=dtype, device=device)
        if not support.supported:
            raise UnsupportedConstruct(construct, support.note)


class AcmeSession(Session):
    """An acme Sequential; `slots` maps each canonical parameter name to its acme module and attribute."""

    def __init__(self, model: Model, dtype: type, recipe: Recipe | None) -> None:
        self.dtype = dtype
        self.slots: dict[str, tuple[acme.Linear, str]] = {}
        modules: list[acme.Module] = []
        width = model.inputs[0].shape[-1]
        for i, layer in enumerate(model.layers or []):
            name = layer.name or f"{layer.type}_{i}"  # the standard's default name
            if layer.type == "dense":
                linear = acme.Linear(width, layer.units, bias=layer.use_bias, dtype=dtype)
                self.slots.update({f"{name}.{p}": (linear, p) for p in linear.parameters()})
                modules.append(linear)
                width = layer.units
            else:
                modules.append(acme.ReLU() if layer.type == "relu" else acme.Tanh())
        self.net = acme.Sequential(*modules)
        self.recipe = recipe
        self.loss = self.optimizer = self.schedule = None
        if recipe is not None:
            opt, sched = recipe.optimizer, recipe.schedule
            self.loss = acme.MSELoss(recipe.loss.reduction)
            self.optimizer = acme.SGD(self._native(), opt.momentum, opt.dampening, opt.nesterov)
            warmup = sched.warmup
            self.schedule = acme.ConstantLR(opt.learning_rate, warmup.steps if warmup else 0,
                                            warmup.start_factor if warmup else 0.0)

    # ---------------------------------------------------------------- layouts: canonical <-> acme
    def _native(self) -> dict[str, np.ndarray]:
        """Canonical name -> acme's own array (updated in place by acme's SGD)."""
        return {k: getattr(module, attr) for k, (module, attr) in self.slots.items()}

    @staticmethod
    def _flip(name: str, a: np.ndarray) -> np.ndarray:
        """A dense weight is [out, in] in acme and [in, out] in Lockstep; a bias is [out] in both."""
        return a.T if name.endswith(".weight") else a

    def set_parameters(self, params: Arrays) -> None:
        missing = [k for k in self.slots if k not in params]
        if missing:
            raise KeyError(f"missing parameters: {', '.join(missing)}")
        for k, held in self._native().items():
            value = np.asarray(params[k], dtype=np.float64)
            needed = self._flip(k, held).shape
            if value.shape != needed:
                raise ValueError(f"`{k}` has shape {list(value.shape)}, the model needs {list(needed)}")
            held[...] = self._flip(k, value)  # in place: acme's optimizer holds these arrays

    def get_parameters(self) -> Arrays:
        return {k: np.array(self._flip(k, a), dtype=np.float64) for k, a in self._native().items()}

    # ---------------------------------------------------------------- computing
    def _input(self, x: np.ndarray | Arrays) -> np.ndarray:
        if isinstance(x, dict):
            (x,) = x.values()
        return np.asarray(x, dtype=self.dtype)

    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        return np.array(self.net.forward(self._input(x)), dtype=np.float64)

    def _backward(self, x: np.ndarray | Arrays, y: np.ndarray) -> float:
        if self.loss is None:
            raise RuntimeError("this session was built without a recipe: it can run forward only")
        with np.errstate(all="ignore"):  # non-finite values are reported (NonFiniteError), not warned about
            value = self.loss.forward(self.net.forward(self._input(x)), np.asarray(y, dtype=self.dtype))
            self.net.backward(self.loss.backward())
        return value

    def _grads(self) -> dict[str, np.ndarray]:
        return {k: module.grads[attr] for k, (module, attr) in self.slots.items()}

    def loss_and_gradients(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None
                           ) -> tuple[float, Arrays]:
        value = self._backward(x, y)
        return value, {k: np.array(self._flip(k, g), dtype=np.float64) for k, g in self._grads().items()}

    def train_step(self, x: np.ndarray | Arrays, y: np.ndarray, *, masks: Arrays | None = None) -> StepResult:
        value = self._backward(x, y)
        grads = self._grads()
        if not acme.all_finite(value):
            raise NonFiniteError("loss")
        bad = next((k for k, g in grads.items() if not acme.all_finite(g)), None)
        if bad is not None:
            raise NonFiniteError(f"gradient of {bad}")
        assert self.optimizer is not None and self.schedule is not None
        lr = self.schedule(self.optimizer.steps)
        self.optimizer.step(grads, lr)
        return StepResult(value, lr)

    # ---------------------------------------------------------------- optimizer state
    def get_optimizer_state(self) -> tuple[int, dict[str, Arrays]]:
        if self.optimizer is None:
            return 0, {}
        buffers = self.optimizer.buffers
        return self.optimizer.steps, {
            k: {"momentum_buffer": np.array(self._flip(k, buffers[k]), dtype=np.float64)} if k in buffers else {}
            for k in self.slots}

    def set_optimizer_state(self, step: int, state: dict[str, Arrays]) -> None:
        if self.optimizer is None:
            raise RuntimeError("this session was built without a recipe: it has no optimizer")
        unknown = sorted(set(state) - set(self.slots))
        if unknown:
            raise KeyError(f"optimizer state for unknown parameters: {', '.join(unknown)}")
        self.optimizer.steps = int(step)
        for k, s in state.items():
            if "momentum_buffer" in s and k in self.optimizer.buffers:
                self.optimizer.buffers[k][...] = self._flip(k, np.asarray(s["momentum_buffer"], dtype=np.float64))
