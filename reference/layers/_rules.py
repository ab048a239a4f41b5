"""What the layers' float32 rules share (docs/spec/v1-semantics.md § Tolerances; reference/tolerances.py).

Every layer module states, next to its `forward`/`backward`, three lengths that the float32 bounds read:

    reduction_length(layer, input_shapes, *, training=False, batch=1) -> int
        k_l, the longest chain of roundings from the layer's inputs to one output element: reductions count
        their length, products with parameters PRODUCT_ROUNDING, library functions FUNCTION_ULPS each;
    batch_length(layer, input_shapes, batch) -> int
        the length of the sum over batch × positions that ends each of its parameter gradients (0 without
        parameters);
    backward_excess(layer, input_shapes) -> int
        how much longer its input-gradient reduction is than its forward one (0 for most layers).

`input_shapes` are per sample (no batch axis). The functions below are the common answers, for a module to
assign (`batch_length = no_parameters`) where one fits, so that each module still says it."""

from __future__ import annotations

from collections.abc import Sequence

from lockstep.reference.tolerances import FUNCTION_ULPS, PRODUCT_ROUNDING

Shapes = Sequence[Sequence[int]]

__all__ = ["FUNCTION_ULPS", "PRODUCT_ROUNDING", "Shapes", "exact", "first", "no_excess", "no_parameters",
           "one_function"]


def first(input_shapes: Shapes) -> tuple[int, ...]:
    """The first input's per-sample shape (empty for a layer without inputs)."""
    return tuple(input_shapes[0]) if input_shapes else ()


def exact(layer: object, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """A forward that moves, selects or compares values and never rounds: k = 0."""
    return 0


def one_function(layer: object, input_shapes: Shapes, *, training: bool = False, batch: int = 1) -> int:
    """An elementwise function of one library call and two roundings around it (elu, sigmoid, tanh, silu)."""
    return FUNCTION_ULPS + 2


def no_parameters(layer: object, input_shapes: Shapes, batch: int) -> int:
    """A layer without parameters ends no parameter gradient: no batch reduction."""
    return 0


def no_excess(layer: object, input_shapes: Shapes) -> int:
    """The input gradient's reductions are no longer than the forward's."""
    return 0


def recurrent_reduction_length(units: int, input_shapes: Shapes) -> int:
    """A gated recurrent layer (lstm, gru): each of T steps forms the gate pre-activations (F + H products,
    rounded factors), three library functions' worth of gates and three more roundings; the steps chain."""
    steps, feat = first(input_shapes)[:2]
    return steps * (feat + units + 2 * PRODUCT_ROUNDING + 3 * FUNCTION_ULPS + 3)


def recurrent_batch_length(input_shapes: Shapes, batch: int) -> int:
    """A recurrent layer's weight gradients sum over the batch and the T steps."""
    return batch * first(input_shapes)[0]


def recurrent_backward_excess(gates: int, units: int, input_shapes: Shapes) -> int:
    """A step's recurrent gradient sums over the gates·H gate columns where the forward summed F + H."""
    steps, feat = first(input_shapes)[:2]
    return steps * max(0, gates * units - (feat + units))
