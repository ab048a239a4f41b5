"""gelu.

approximate "none":  y = x Φ(x), Φ the standard normal CDF;  dy/dx = Φ(x) + x φ(x), φ(x) = e^(-x²/2) / √(2π).
approximate "tanh":  y = ½ x (1 + tanh u), u = √(2/π) (x + 0.044715 x³);
                     dy/dx = ½ (1 + tanh u) + ½ x (1 - tanh² u) √(2/π) (1 + 3 · 0.044715 x²).
                     Evaluated through ½(1 + tanh u) = σ(2u) and 1 − tanh² u = 4σ(2u)σ(−2u), the same numbers
                     without 1 + tanh u's cancellation for x ≪ 0 (2.8e-10 wrong at x = −5, 0 for −3.1e-21 at −8).

NumPy has no erf; Φ comes from the C library's erfc through `math.erfc`, elementwise, as
Φ(x) = ½ erfc(-x / √2): unlike ½ (1 + erf(x / √2)) it keeps full relative precision for x ≪ 0.
"""

from __future__ import annotations

import math

import numpy as np

from lockstep.reference.layers._act import sigmoid
from lockstep.reference.layers._magnitude import Mags, activation, activation_backward
from lockstep.reference.layers._rules import FUNCTION_ULPS, Shapes, no_excess, no_parameters
from lockstep.reference.layers.context import Cache, ForwardContext, Gradients, Params
from lockstep.spec.layers import GELU

_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_A = 0.044715


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) to float64 accuracy."""
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0))


def forward(layer: GELU, inputs: list[np.ndarray], params: Params, ctx: ForwardContext) -> tuple[np.ndarray, Cache]:
    (x,) = inputs
    if layer.approximate == "tanh":
        u = _u(x)
        return x * sigmoid(2.0 * u), (x, np.tanh(u))
    cdf = normal_cdf(x)
    return x * cdf, (x, cdf)


def backward(layer: GELU, grad_output: np.ndarray, cache: Cache) -> Gradients:
    x, aux = cache
    if layer.approximate == "tanh":
        two_u = 2.0 * _u(x)
        half = sigmoid(two_u)  # ½(1 + tanh u)
        return [grad_output * (half + _tanh_tail(x, half * sigmoid(-two_u)))], {}
    cdf = aux
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return [grad_output * (cdf + x * pdf)], {}



def _u(x: np.ndarray) -> np.ndarray:
    """u = √(2/π)(x + 0.044715 x³); x³ passes float64 for |x| > 5.6e102, where u = ±∞ gives the limits."""
    with np.errstate(over="ignore"):
        return _SQRT_2_OVER_PI * (x + _A * x**3)


def _tanh_tail(x: np.ndarray, quarter_sech2: np.ndarray) -> np.ndarray:
    """½x(1 − t²)u′ = 2x·σ(2u)σ(−2u)·u′ of the tanh form's derivative; 0 where σ(2u)σ(−2u) is 0, where x² in u′
    overflows for |x| ≥ 1.3e154 and 0·∞ made the gradient NaN of an input whose slope is exactly 0 or 1."""
    with np.errstate(over="ignore", invalid="ignore"):
        tail = 2.0 * x * quarter_sech2 * (_SQRT_2_OVER_PI * (1.0 + 3.0 * _A * x**2))
    return np.where(quarter_sech2 == 0.0, 0.0, tail)


def _slope(layer: GELU, x: np.ndarray, aux: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(f′, f″, own(f′)). exact: f′ = Φ + xφ, f″ = φ(2 − x²), own ½(1 + |erf|) + |x|φ; tanh: f′ = ½(1 + t) +
    ½x(1 − t²)u′, f″ = (1 − t²)(u′ − x t u′² + ½x u″), own ½(1 + |t|) + ½|x|(1 + t²)u′."""
    if layer.approximate == "tanh":
        t = aux
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _A * x**2)
        d2u = _SQRT_2_OVER_PI * 6.0 * _A * x
        return (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * du, (1.0 - t**2) * (du - x * t * du**2 + 0.5 * x * d2u),
                0.5 * (1.0 + np.abs(t)) + 0.5 * np.abs(x) * (1.0 + t**2) * du)
    pdf = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return aux + x * pdf, pdf * (2.0 - x**2), 0.5 * (1.0 + np.abs(2.0 * aux - 1.0)) + np.abs(x) * pdf


def magnitude(layer: GELU, inputs: list[np.ndarray], mags: Mags, params: Params, cache: Cache
              ) -> tuple[np.ndarray, Cache]:
    """A_y = max(|f′(x)| A_x, ½|x|(1 + |e|)), e = erf(x/√2) or tanh u: 1 + e cancels for x ≪ 0."""
    x, aux = cache
    e = aux if layer.approximate == "tanh" else 2.0 * aux - 1.0
    slope, _, _ = _slope(layer, x, aux)
    return activation(slope, mags[0], 0.5 * np.abs(x) * (1.0 + np.abs(e))), mags[0]


def magnitude_backward(layer: GELU, grad: np.ndarray, grad_mag: np.ndarray, cache: Cache, mag_cache: Cache,
                       params: Params) -> Gradients:
    """G_x = |f′| G + |g|·max(|f″| A_x, own(f′)) (`_slope`)."""
    slope, curvature, own = _slope(layer, *cache)
    return [activation_backward(slope, np.maximum(np.abs(curvature) * mag_cache, own), grad, grad_mag)], {}


# ---------------------------------------------------------- float32 rules (reference/layers/_rules.py)
def reduction_length(layer: GELU, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """Two library functions (erf or tanh, and its argument's) and four roundings."""
    return 2 * FUNCTION_ULPS + 4


batch_length = no_parameters
backward_excess = no_excess
