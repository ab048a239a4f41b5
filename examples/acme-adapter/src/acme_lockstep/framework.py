"""acme, a vendor's deep-learning framework in miniature: the thing the Lockstep adapter (adapter.py) wraps.

It knows nothing about Lockstep and has conventions of its own, as real frameworks do: `Linear` keeps its
weight as [out, in] (Lockstep's canonical dense layout is [in, out]), every module computes in the dtype it
was created with (float32 or float64), parameters are updated in place, and each module's backward is
written by hand. Its SGD is PyTorch's formulation, which is also the standard's.
"""

from __future__ import annotations

import math

import numpy as np

__version__ = "0.1.0"


class Module:
    """Forward caches what backward needs; backward returns d loss / d input and fills `grads`."""

    def __init__(self) -> None:
        self.grads: dict[str, np.ndarray] = {}

    def parameters(self) -> dict[str, np.ndarray]:
        return {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Linear(Module):
    """y = x weightᵀ + bias over the last axis; weight is [out, in]."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: type = np.float32) -> None:
        super().__init__()
        self.weight = np.zeros((out_features, in_features), dtype=dtype)
        self.bias = np.zeros(out_features, dtype=dtype) if bias else None

    def parameters(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight} if self.bias is None else {"weight": self.weight, "bias": self.bias}

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def backward(self, grad: np.ndarray) -> np.ndarray:
        x2 = self._x.reshape(-1, self._x.shape[-1])  # every leading position is one more row
        g2 = grad.reshape(-1, grad.shape[-1])
        self.grads = {"weight": g2.T @ x2}
        if self.bias is not None:
            self.grads["bias"] = g2.sum(axis=0)
        return grad @ self.weight


class ReLU(Module):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.maximum(x, x.dtype.type(0))  # keeps NaN, so a diverging run shows

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.where(self._positive, grad, grad.dtype.type(0))


class Tanh(Module):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad * (1 - self._y * self._y)


class Sequential(Module):
    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.modules = list(modules)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for m in self.modules:
            x = m.forward(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for m in reversed(self.modules):
            grad = m.backward(grad)
        return grad


class MSELoss:
    """mean (over every element) or sum of (prediction - target)²."""

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"acme MSELoss: unknown reduction {reduction!r}")
        self.reduction = reduction

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        if target.shape != prediction.shape and prediction.shape[-1:] == (1,) and target.shape == prediction.shape[:-1]:
            target = target.reshape(prediction.shape)  # [N] targets of a one-unit output [N, 1]
        if target.shape != prediction.shape:
            raise ValueError(f"acme MSELoss: target {list(target.shape)} vs prediction {list(prediction.shape)}")
        self._d = prediction - target
        squares = self._d * self._d
        return float(squares.sum() if self.reduction == "sum" else squares.mean())

    def backward(self) -> np.ndarray:
        scale = 1.0 if self.reduction == "sum" else 1.0 / self._d.size
        return self._d * self._d.dtype.type(2.0 * scale)


class SGD:
    """PyTorch's SGD: b₁ = g, b_t = μ b_{t-1} + (1 - dampening) g; step g + μ b (nesterov) or b; w -= lr step."""

    def __init__(self, params: dict[str, np.ndarray], momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False) -> None:
        self.params = params  # updated in place
        self.momentum, self.dampening, self.nesterov = momentum, dampening, nesterov
        self.buffers = {k: np.zeros_like(p) for k, p in params.items()} if momentum > 0 else {}
        self.steps = 0

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for k, p in self.params.items():
            g = grads[k]
            d = g
            if self.momentum > 0:
                b = self.buffers[k]
                b[...] = g if self.steps == 0 else self.momentum * b + (1 - self.dampening) * g
                d = g + self.momentum * b if self.nesterov else b
            p -= lr * d
        self.steps += 1


class ConstantLR:
    """lr(t) = base, after an optional linear warm-up of `warmup_steps` from `start_factor` · base."""

    def __init__(self, base: float, warmup_steps: int = 0, start_factor: float = 0.0) -> None:
        self.base, self.warmup_steps, self.start_factor = base, warmup_steps, start_factor

    def __call__(self, t: int) -> float:
        if t < self.warmup_steps:
            return self.base * (self.start_factor + (1.0 - self.start_factor) * t / self.warmup_steps)
        return self.base


def all_finite(*arrays: np.ndarray | float) -> bool:
    return all(bool(np.all(np.isfinite(a))) if isinstance(a, np.ndarray) else math.isfinite(a) for a in arrays)
