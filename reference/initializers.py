"""Initial parameters, drawn by the standard (never by a framework) in canonical layout, float64.

Each parameter draws from its own stream ("init", canonical name), seeded by the initializer's own
`seed` if it has one, else the recipe seed: adding a layer never changes another layer's weights.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.random import stream
from lockstep.spec.layers import ParamSpec


def initialize(init, spec: ParamSpec, rng: np.random.Generator) -> np.ndarray:
    shape = spec.shape
    t = init.type
    if t == "zeros":
        return np.zeros(shape)
    if t == "ones":
        return np.ones(shape)
    if t == "constant":
        return np.full(shape, float(init.value))
    if t == "uniform":
        return rng.uniform(init.low, init.high, size=shape)
    if t == "normal":
        return rng.normal(init.mean, init.std, size=shape)
    if t in ("glorot_uniform", "xavier_uniform"):
        a = init.gain * math.sqrt(6.0 / (spec.fan_in + spec.fan_out))
        return rng.uniform(-a, a, size=shape)
    if t in ("glorot_normal", "xavier_normal"):
        return rng.normal(0.0, init.gain * math.sqrt(2.0 / (spec.fan_in + spec.fan_out)), size=shape)
    fan = spec.fan_in if getattr(init, "mode", "fan_in") == "fan_in" else spec.fan_out
    if t in ("he_uniform", "kaiming_uniform"):
        a = math.sqrt(6.0 / fan)
        return rng.uniform(-a, a, size=shape)
    if t in ("he_normal", "kaiming_normal"):
        return rng.normal(0.0, math.sqrt(2.0 / fan), size=shape)
    if t == "orthogonal":
        rows = shape[0] if shape else 1
        cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return init.gain * q.reshape(shape)
    raise KeyError(f"unknown initializer `{t}`")


def initial_value(name: str, spec: ParamSpec, override, seed: int) -> np.ndarray:
    init = override if override is not None else spec.initializer
    own = getattr(init, "seed", None)
    return initialize(init, spec, stream(own if own is not None else seed, "init", name))


def initial_parameters(graph, seed: int) -> dict[str, np.ndarray]:
    """Parameters and buffers of a spec ModelGraph, by canonical name."""
    out: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        for pname, spec in node.layer.parameters(node.input_shapes).items():
            out[f"{node.name}.{pname}"] = initial_value(f"{node.name}.{pname}", spec,
                                                        node.layer.initializers.get(pname), seed)
        for bname, spec in node.layer.buffers(node.input_shapes).items():
            out[f"{node.name}.{bname}"] = initialize(spec.initializer, spec, stream(seed, "init", node.name, bname))
    return out
