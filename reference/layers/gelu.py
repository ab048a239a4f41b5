"""gelu: none -> x Φ(x) with Φ the normal CDF (erf); tanh -> 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))."""

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)
_C = math.sqrt(2.0 / math.pi)


def forward(layer, inputs, params, ctx):
    (x,) = inputs
    if layer.approximate == "tanh":
        u = _C * (x + 0.044715 * x**3)
        th = np.tanh(u)
        return 0.5 * x * (1 + th), (x, th)
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    return x * cdf, (x, cdf)


def backward(layer, g, cache):
    x, aux = cache
    if layer.approximate == "tanh":
        th = aux
        du = _C * (1 + 3 * 0.044715 * x**2)
        return [g * (0.5 * (1 + th) + 0.5 * x * (1 - th**2) * du)], {}
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    return [g * (aux + x * pdf)], {}
