"""The magnitude pass's shared rules (docs/spec/v1-semantics.md § Tolerances, "float32: the quantities").

Every layer module has, next to `forward`/`backward`:

    magnitude(layer, inputs, mags, params, cache) -> (A_out, mag_cache)
    magnitude_backward(layer, grad, grad_mag, cache, mag_cache, params) -> (input_grad_mags, param_grad_mags)

`inputs` are the forward's input values, `mags` their magnitudes A (None for integer inputs), `params` the
layer's parameters *and buffers* by short name, `cache` the reference forward's cache. `grad` is the
reference's dL/d(output), `grad_mag` its magnitude G. The contract, to first order in u:

* forward: if every input satisfies |ê − e| ≤ γ_p·A_in and A_in ≥ |e|, then |ẑ − z| ≤ γ_{p+k}·A_out with
  k = `layer_length` and A_out ≥ |z|;
* backward: G ≥ |g| bounds g's error the same way; the input-gradient magnitudes are built from the
  partial derivatives (signal × cached value c: |c|·G + |δ|·A_c, both errors, lengths do not add), and a
  parameter gradient, where the chain ends, is Σ A·G (its forward and backward paths add, which is what
  `gradient_length`'s 2·n_out + n_loss pays for).

A layer with a kink also has `branch_error(layer, inputs, errors, grad, cache) -> [E or None per input]`:
the absolute error of each input gradient where an input within its float32 error bound `errors` of a kink
(or of a max-pool's maximum) may take the other branch. It is not first order in u and is carried apart
(reference/error_bounds.py, `_Branches`), through `magnitude_backward` with G = E and g = 0, which must
then be linear in G and bound |∂y/∂x|ᵀ·E.

A layer whose backward a backend may compute beyond the first-order regime also has
`backward_first_order(layer, cache, dtype) -> bool`: where it is False, every gradient whose path crosses the layer
is not representable (`Bound.peak` infinite). multi_head_attention's: a fused kernel recomputes the scores and
exponentiates them against a stored log-sum-exp, a factor e^E with E the scores' rounding, first order while E < 1.

For the loss's adjoint form (reference/error_bounds.py, `_Adjoint`: each value's own rounding weighed by the reference's
∂L/∂value) a layer may also have `own_roundings(layer, inputs, grad, params, cache) -> [(∂L/∂q, own_q, k_q)]`, one
triple per value q it computes inside (multi_head_attention: without it the layer's forward rule at A = |inputs|
stands for its own rounding, its inside compounded); a kink's layer `kink_loss_error(layer, inputs, errors, grad,
cache) -> float`, what an input computed on the kink's other side moves the loss beyond the form's linear weight;
and `exponent_error(layer, cache, dtype) -> float`, how far the dtype's rounding may move an exponent inside it
(the form asks for it to be small).

Two contributions with separate rounding chains combine by `max`: γ_p·X + γ_k·Y ≤ γ_{p+k}·max(X, Y).
"own" below is a quantity's own rounding magnitude: its formula with every term replaced by its absolute
value (a subtraction becomes a sum, log of a sum gets +1 for the sum's relative error).
"""

from __future__ import annotations

import numpy as np

from lockstep.reference.layers.context import Params

Mags = list[np.ndarray | None]
"""The magnitudes of a layer's inputs (or of its input gradients): None for integer inputs."""

def absolute(params: Params) -> Params:
    """|θ| for every parameter: a linear layer's magnitude pass is the layer itself on absolute values."""
    return {k: np.abs(v) for k, v in params.items()}


def activation(slope: np.ndarray | float, a: np.ndarray, own: np.ndarray | float) -> np.ndarray:
    """A_out = max(|f′(x)|·A, own): to first order the input's error is carried by the slope at x (a smooth
    function's local one; a piecewise-linear one's Lipschitz constant, since x̂ may cross its kink)."""
    return np.maximum(np.abs(slope) * a, own)


def activation_backward(slope: np.ndarray, slope_mag: np.ndarray, grad: np.ndarray,
                        grad_mag: np.ndarray) -> np.ndarray:
    """G_in = |f′|·G + |g|·m(f′): the signal's error, and the derivative's own error m(f′) times |g|."""
    return np.abs(slope) * grad_mag + np.abs(grad) * slope_mag


def sigmoid_slope(s: np.ndarray, a_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """σ′ = s(1 − s) from the result s: value, and magnitude max(|1 − 2s|·A_s, s(1 + s))."""
    return s * (1.0 - s), np.maximum(np.abs(1.0 - 2.0 * s) * a_s, s * (1.0 + s))


def tanh_slope(t: np.ndarray, a_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh′ = 1 − t² from the result t: value, and magnitude max(2|t|·A_t, 1 + t²)."""
    return 1.0 - t * t, np.maximum(2.0 * np.abs(t) * a_t, 1.0 + t * t)


def times(grad_mag: np.ndarray, value: np.ndarray, value_mag: np.ndarray) -> np.ndarray:
    """Magnitude of δ·c, δ a signal (|δ| ≤ G) and c a cached value of magnitude A_c: G·(|c| + A_c)."""
    return grad_mag * (np.abs(value) + value_mag)


# ------------------------------------------------------------------------------------------ softmax
def softmax(y: np.ndarray, shift: np.ndarray, a: np.ndarray, axis: int) -> np.ndarray:
    """A_y = max(y(A + Σ y A), y(|x − m| + Σ y|x − m| + 1)): input errors through the Jacobian
    diag(y) − y yᵀ; own: the shifted exponent's rounding (u|x − m| relative in e^(x−m)) and the relative
    roundings of exp, the sum and the division. y = 0 (masked or underflowed) has magnitude 0."""
    live = y > 0
    a = np.where(live, a, 0.0)
    shift = np.where(live, shift, 0.0)
    prop = y * (a + np.sum(y * a, axis=axis, keepdims=True))
    own = y * (shift + np.sum(y * shift, axis=axis, keepdims=True) + 1.0)
    return np.maximum(prop, own)


def softmax_backward(y: np.ndarray, a_y: np.ndarray, grad: np.ndarray, grad_mag: np.ndarray,
                     axis: int) -> np.ndarray:
    """dx = y(g − Σ g y): y(G + Σ G y) for g's error, |g − Σ g y|·A_y + y Σ |g| A_y for y's; own rounding
    y(|g| + Σ |g| y) is no larger than the first (the cancellation is in the magnitude, not the value). `grad` is
    the signal's value (the reference's), never its bound G: G in its place, as attention's rule had it before
    2026-12-07, compounds G/|g| through every softmax on the path."""
    def total(v: np.ndarray) -> np.ndarray:
        return np.sum(v, axis=axis, keepdims=True)

    signal = y * (grad_mag + total(grad_mag * y))
    return signal + np.abs(grad - total(grad * y)) * a_y + y * total(np.abs(grad) * a_y)


# ------------------------------------------------------------------------------------ normalization
def normalize(x: np.ndarray, a: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, axes: tuple[int, ...]
              ) -> tuple[np.ndarray, np.ndarray]:
    """(A_x̂, ρ) of x̂ = (x − μ)·r, r = 1/√(σ² + ε), statistics over `axes`.

    Input errors: the exact Jacobian r(δ_ij − 1/m − x̂_i x̂_j/m) gives r(A + mean A + |x̂| mean(|x̂| A)).
    Own: D = |x| + |μ| + mean|x| bounds x − μ's rounding (μ's own included, also for backends that form
    x·r − μ·r), V = 2 mean(|x − μ| D) + mean x² + μ² bounds σ²'s (two-pass or E[x²] − μ²), so r carries a
    relative error ρ = max(r² mean(|x − μ| A), 1 + ½Vr²) and x̂'s own is r·D + |x̂|(1 + ½Vr²).
    For a single value (or ε ≫ σ²) x̂ = 0 exactly in float64 while r·D ≈ 3|x|/√ε is what float32 leaves.
    """
    def mean(v: np.ndarray) -> np.ndarray:
        return v.mean(axis=axes, keepdims=True)

    mu = mean(x)
    dev = np.abs(x - mu)
    d = np.abs(x) + np.abs(mu) + mean(np.abs(x))
    v = 2.0 * mean(dev * d) + mean(x * x) + mu * mu
    r2 = inv_std * inv_std
    abs_hat = np.abs(x_hat)
    prop = inv_std * (a + mean(a) + abs_hat * mean(abs_hat * a))
    own = inv_std * d + abs_hat * (1.0 + 0.5 * v * r2)
    rho = np.maximum(r2 * mean(dev * a), 1.0 + 0.5 * v * r2)
    return np.maximum(prop, own), rho


def normalize_backward(grad: np.ndarray, grad_mag: np.ndarray, weight: np.ndarray, x_hat: np.ndarray,
                       a_hat: np.ndarray, inv_std: np.ndarray, rho: np.ndarray, axes: tuple[int, ...]
                       ) -> np.ndarray:
    """dx = r(ĝ − mean ĝ − x̂ mean(ĝ x̂)), ĝ = w g. Partials: ĝ's error r(Ĝ + mean Ĝ + |x̂| mean(Ĝ|x̂|)),
    x̂'s r(A_x̂ |mean(ĝx̂)| + |x̂| mean(|ĝ| A_x̂)), r's ρ·r·|bracket|; own (abs terms, also of the
    x − μ form torch uses): r(|ĝ| + mean|ĝ| + A_x̂ mean(|ĝ| A_x̂))."""
    def mean(v: np.ndarray) -> np.ndarray:
        return v.mean(axis=axes, keepdims=True)

    gh, gm = weight * grad, np.abs(weight) * grad_mag
    abs_hat, abs_gh = np.abs(x_hat), np.abs(gh)
    bracket = gh - mean(gh) - x_hat * mean(gh * x_hat)
    prop = (gm + mean(gm) + abs_hat * mean(gm * abs_hat) + a_hat * np.abs(mean(gh * x_hat))
            + abs_hat * mean(abs_gh * a_hat) + rho * np.abs(bracket))
    own = abs_gh + mean(abs_gh) + a_hat * mean(abs_gh * a_hat)
    return inv_std * np.maximum(prop, own)
