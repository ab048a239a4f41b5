"""Initial parameters, drawn by the standard (never by a framework), float64, canonical layout.

Each parameter draws from its own stream ("init", canonical name), seeded by the initializer's own
`seed` if it has one, else the recipe seed: adding a layer never changes another layer's weights, and
every backend is handed the same arrays. Fans come from the ParamSpec (spec/layers.py states them per
layout: dense [in, out], conv [out, in/groups, *k], recurrent [in, gates·units]).

    zeros, ones, constant(v)        0, 1, v
    uniform(a, b)                   a + (b − a) U,           U = rng.random()
    normal(μ, σ)                    μ + σ Z,                 Z = rng.standard_normal()
    glorot_uniform(gain)            U(−l, l),  l = gain √(6 / (fan_in + fan_out))
    glorot_normal(gain)             N(0, s²),  s = gain √(2 / (fan_in + fan_out))   (not truncated)
    he_uniform(mode)                U(−l, l),  l = √(6 / fan),  fan = fan_in or fan_out
    he_normal(mode)                 N(0, s²),  s = √(2 / fan)                       (not truncated)
    orthogonal(gain)                torch.nn.init.orthogonal_'s construction, below
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lockstep.reference.random import stream
from lockstep.spec.initializers import Initializer
from lockstep.spec.layers import ParamSpec


def orthogonal(shape: tuple[int, ...], gain: float, rng: np.random.Generator) -> np.ndarray:
    """A = standard normal [rows, cols] (rows = shape[0], cols = ∏shape[1:], drawn row-major);
    A ← Aᵀ if rows < cols; A = QR; Q ← Q · sign(diag R) (sign 0 counts as +1); Q ← Qᵀ if it was
    transposed; result = gain · Q reshaped. Rows (rows ≤ cols) or columns (rows ≥ cols) are orthonormal.
    A 1-D shape [n] is a single column [n, 1]: a random unit vector."""
    rows = shape[0] if shape else 1
    cols = math.prod(shape[1:]) if len(shape) > 1 else 1
    a = rng.standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    d = np.sign(np.diag(r))
    q = q * np.where(d == 0, 1.0, d)
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


def _fan(init: Any, spec: ParamSpec) -> int:
    return spec.fan_in if init.mode == "fan_in" else spec.fan_out


def _he_uniform(init: Any, spec: ParamSpec, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    limit = math.sqrt(6.0 / _fan(init, spec))
    return rng.uniform(-limit, limit, size=shape)


def _glorot_uniform(init: Any, spec: ParamSpec, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    limit = init.gain * math.sqrt(6.0 / (spec.fan_in + spec.fan_out))
    return rng.uniform(-limit, limit, size=shape)


Draw = Callable[[Any, ParamSpec, np.random.Generator, tuple[int, ...]], np.ndarray]

INITIALIZERS: dict[str, Draw] = {
    "zeros": lambda init, spec, rng, shape: np.zeros(shape),
    "ones": lambda init, spec, rng, shape: np.ones(shape),
    "constant": lambda init, spec, rng, shape: np.full(shape, float(init.value)),
    "uniform": lambda init, spec, rng, shape: rng.uniform(init.low, init.high, size=shape),
    "normal": lambda init, spec, rng, shape: rng.normal(init.mean, init.std, size=shape),
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": lambda init, spec, rng, shape: rng.normal(
        0.0, init.gain * math.sqrt(2.0 / (spec.fan_in + spec.fan_out)), size=shape),
    "he_uniform": _he_uniform,
    "he_normal": lambda init, spec, rng, shape: rng.normal(0.0, math.sqrt(2.0 / _fan(init, spec)), size=shape),
    "orthogonal": lambda init, spec, rng, shape: orthogonal(shape, init.gain, rng),
}
"""Every initializer of spec v1 by name (`fn(init, spec, rng, shape) -> float64 array`); the spec's other names
for the same initializer (xavier_*, kaiming_*) are added below."""
INITIALIZERS.update({"xavier_uniform": INITIALIZERS["glorot_uniform"], "xavier_normal": INITIALIZERS["glorot_normal"],
                     "kaiming_uniform": INITIALIZERS["he_uniform"], "kaiming_normal": INITIALIZERS["he_normal"]})


def initialize(init: Initializer, spec: ParamSpec, rng: np.random.Generator) -> np.ndarray:
    """The initial value of one parameter with `init`, drawn from `rng`, in float64."""
    if init.type not in INITIALIZERS:
        raise KeyError(f"unknown initializer `{init.type}`")
    return INITIALIZERS[init.type](init, spec, rng, tuple(spec.shape))


def initial_value(name: str, spec: ParamSpec, override: Initializer | None, seed: int) -> np.ndarray:
    """Parameter `name` (canonical, `<layer>.<param>`): the layer's override for it, else the spec's
    default initializer, drawn from stream(init.seed if set else seed, "init", name)."""
    init = override if override is not None else spec.initializer
    own = getattr(init, "seed", None)
    return initialize(init, spec, stream(own if own is not None else seed, "init", name))


def layer_overrides(graph: object) -> dict[str, Mapping[str, Initializer]]:
    """Each node's `initializers` (param name → initializer), by layer name."""
    return {n.name: n.layer.initializers for n in graph.nodes}  # type: ignore[attr-defined]


def initial_parameters(param_specs: Mapping[str, ParamSpec] | object,
                       overrides: Mapping[str, Mapping[str, Initializer]] | int | None = None,
                       seed: int | None = None) -> dict[str, np.ndarray]:
    """Initial values by canonical name.

    `initial_parameters(param_specs, overrides, seed)`: `param_specs` maps canonical names to ParamSpecs
    (parameters or buffers), `overrides` maps a layer name to that layer's `initializers`.
    `initial_parameters(graph, seed)`: every parameter and buffer of a spec ModelGraph.
    """
    if hasattr(param_specs, "nodes"):  # a ModelGraph
        graph = param_specs
        graph_seed = overrides if seed is None else seed
        if not isinstance(graph_seed, int):
            raise TypeError("initial_parameters(graph, seed) needs an integer seed")
        specs = {**graph.parameters(), **graph.buffers()}  # type: ignore[attr-defined]
        return initial_parameters(specs, layer_overrides(graph), graph_seed)
    if seed is None or isinstance(overrides, int):
        raise TypeError("initial_parameters(param_specs, overrides, seed) needs the overrides (or None) and a seed")
    per_layer = overrides or {}
    out: dict[str, np.ndarray] = {}
    for name, spec in param_specs.items():  # type: ignore[union-attr]
        layer, _, pname = name.partition(".")
        out[name] = initial_value(name, spec, per_layer.get(layer, {}).get(pname), seed)
    return out
