"""Semantic checks of a Model: names, references, cycles, dangling nodes, dtypes and shapes through the graph
(with a hint for the commonest mistakes), initializer keys, the weights file against the canonical names and
layouts, and whether the parameters fit in memory.

`layer_names` and `infer_shapes` are the helpers tools share with the reference (both read `spec/graph.py`).
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

from lockstep.spec import resources
from lockstep.spec.base import Shape, ShapeError
from lockstep.spec.diagnostics import Diagnostic
from lockstep.spec.documents import Model
from lockstep.spec.graph import ModelGraph, Node, build_graph, default_name
from lockstep.spec.npy import read_npz_header, scan_npz_values
from lockstep.spec.paths import missing_file, resolve_path
from lockstep.spec.semantics.data import MAX_CSV_BYTES
from lockstep.spec.semantics.located import Located, PathParts
from lockstep.spec.semantics.located import diag as _diag

__all__ = ["check_model", "infer_shapes", "layer_names", "memory_limit"]

def layer_names(model: Model) -> list[str]:
    """Every layer's name in document order: its `name`, or `<type>_<index>` (the reference's naming)."""
    raw = model.layers if model.layers is not None else model.nodes or []
    return [default_name(layer, i) for i, layer in enumerate(raw)]


def infer_shapes(model: Model) -> dict[str, Shape]:
    """Per-sample output shape of every layer, in execution order.

    Raises ShapeError (a ValueError) naming every problem when the model's shapes, names or graph do
    not work out; `check` reports the same problems with their locations.
    """
    graph = build_graph(model)
    if graph.problems:
        raise ShapeError("; ".join(p.message for p in graph.problems))
    return {n.name: n.shape for n in graph.nodes}


_EXPECTED_RANK = {"conv1d": 2, "conv2d": 3, "max_pool2d": 3, "avg_pool2d": 3, "lstm": 2, "gru": 2,
                  "multi_head_attention": 2}


def _reshape_example(shape: Shape, rank: int, kind: str) -> list[int] | None:
    if not shape:  # one number per sample: no reshape gives it the rank
        return None
    n = math.prod(shape)
    if rank == 3:
        if len(shape) == 1:
            k = math.isqrt(n)
            return [1, k, k] if k * k == n and k > 1 else None
        return [shape[0], shape[1], math.prod(shape[2:])] if len(shape) > 3 else [1, *shape]
    if rank == 2:
        if len(shape) == 1:
            return [1, n] if kind == "conv1d" else [n, 1]
        return [shape[0], math.prod(shape[1:])]
    return None


def _shape_hint(node: Node) -> str:
    """How to fix the commonest rank mismatch: the previous layer's output has the wrong rank."""
    want = _EXPECTED_RANK.get(node.type)
    if want is None or len(node.input_shapes) != 1 or len(node.input_shapes[0]) == want:
        return ""
    example = _reshape_example(node.input_shapes[0], want, node.type)
    if example is None:
        layout = {2: "[C, L]" if node.type == "conv1d" else "[T, features]", 3: "[C, H, W]"}[want]
        return f"; insert a `reshape` to {layout} before `{node.name}`"
    return f"; insert `{{type: reshape, shape: {example}}}` before `{node.name}`"


def _channels_hint(node: Node, model: Model) -> str:
    """A Keras habit: images written channels-last ([H, W, C], e.g. [8, 8, 1]) where the standard, like ONNX and
    PyTorch, is channels-first ([C, H, W]); said with the fixed shape."""
    if node.type not in ("conv2d", "max_pool2d", "avg_pool2d") or len(node.input_shapes) != 1:
        return ""
    shape = list(node.input_shapes[0])
    if len(shape) != 3 or shape[-1] > 4 or shape[0] <= shape[-1]:
        return ""
    fixed = [shape[-1], *shape[:-1]]
    try:  # a hint only where the fixed shape is one this layer takes ([16, 4, 4] under a 5×5 kernel: 16 channels)
        node.layer.output_shape([tuple(fixed)])
    except ShapeError:
        return ""
    source = node.inputs[0]
    fix = (f"write the input `{source}` as `shape: {fixed}` (and its data in that layout)"
           if source in {i.name for i in model.inputs} else f"give `{node.name}` an input of shape {fixed}")
    return (f"; {node.type} takes channels-first images [C, H, W] in the standard (as in ONNX and PyTorch), and "
            f"{shape} looks channels-last ([H, W, C], Keras's default): {fix}")


def _graph_code(message: str) -> str:
    if "cannot take" in message:
        return "shape"
    if "integer indices" in message or "floating-point" in message:
        return "dtype"
    if "has no parameter" in message:
        return "initializer"
    return "graph"


def check_model(model: Model, doc: Located, *, base_dir: Path, prefix: PathParts = ()) -> list[Diagnostic]:
    """Names, references, cycles, dangling nodes, dtypes, shapes, initializer keys, weights file."""
    graph = build_graph(model)
    section = "layers" if model.layers is not None else "nodes"
    by_index = {n.index: n for n in graph.nodes}
    out = []
    for p in graph.problems:
        message = p.message
        if "cannot take" in message and len(p.where) == 2 and p.where[0] == section and p.where[1] in by_index:
            node = by_index[p.where[1]]  # type: ignore[index]
            message += _channels_hint(node, model) or _shape_hint(node)
        out.append(_diag(doc, (*prefix, *p.where), message, p.suggestion, code=_graph_code(p.message)))
    if model.weights is not None:
        out.extend(_check_weights(model, graph, doc, base_dir, prefix))
    if not graph.problems:
        out.extend(_check_model_memory(model, graph, doc, prefix))
    return out


def _check_weights(model: Model, graph: ModelGraph, doc: Located, base_dir: Path,
                   prefix: PathParts) -> list[Diagnostic]:
    where = (*prefix, "weights", "path")
    path = model.weights.path  # type: ignore[union-attr]
    try:
        full = resolve_path(base_dir, path)
    except ValueError as exc:
        return [_diag(doc, where, str(exc), code="path")]
    if not full.is_file():
        return [_diag(doc, where, missing_file("weights file", path, full), code="reference")]
    try:
        arrays = read_npz_header(full)
    except ValueError as exc:
        return [_diag(doc, where, f"weights file `{path}` is not a readable .npz: {exc}", code="reference")]
    if graph.problems:
        return []  # canonical names and shapes are unknown until the model itself is right
    wanted = {**graph.parameters(), **graph.buffers()}
    out = []
    strict = model.weights.strict  # type: ignore[union-attr]
    missing = [k for k in wanted if k not in arrays]
    extra = [k for k in arrays if k not in wanted]
    if strict and (missing or extra):
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"`{k}`" for k in missing[:8]) + (" ..." if len(missing) > 8 else ""))
        if extra:
            hints = []
            for k in extra[:8]:
                close = difflib.get_close_matches(k, [m for m in missing] or list(wanted), n=1)
                hints.append(f"`{k}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
            parts.append("unexpected " + ", ".join(hints) + (" ..." if len(extra) > 8 else ""))
        out.append(_diag(doc, where, f"weights file `{path}` does not match the model's canonical names "
                         f"({'; '.join(parts)}); with `strict: true` every parameter and buffer must be present "
                         "and nothing else", code="weights"))
    for name, spec in wanted.items():
        info = arrays.get(name)
        if info is None:
            continue
        if info.shape != tuple(spec.shape):
            out.append(_diag(doc, where, f"`{name}` in `{path}` has shape {list(info.shape)}, the model's "
                             f"canonical layout is {list(spec.shape)}", code="weights"))
        elif info.kind not in "fiu":  # a bool is no weight: `run` refused it, after validate had passed it
            out.append(_diag(doc, where, f"`{name}` in `{path}` has dtype {info.descr}; weights must be real "
                             "numbers", code="weights"))
    if out:
        return out
    try:  # the values too, up to MAX_CSV_BYTES: a NaN weight passed validation and stopped the run
        values = scan_npz_values(full, [k for k in wanted if k in arrays], MAX_CSV_BYTES)
    except ValueError:
        values = {}
    for name, got in values.items():
        if got.nonfinite is not None:
            return [_diag(doc, where, f"`{name}` in `{path}` holds a non-finite value ({got.nonfinite[0]}) at index "
                          f"{got.nonfinite[1]}", code="weights")]
        if name.endswith("running_var") and got.low is not None and got.low[0] < 0:  # its sqrt: NaN, status ok
            return [_diag(doc, where, f"`{name}` in `{path}` holds a negative variance ({got.low[0]:g}) at index "
                          f"{got.low[1]}; a running variance is 0 or more", code="weights")]
    return out


def memory_limit(doc: Located, where: PathParts) -> resources.Limit | Diagnostic:
    """The limit the memory checks compare against, or a diagnostic at `where` when LOCKSTEP_MEMORY_LIMIT is bad."""
    try:
        return resources.memory_limit()
    except ValueError as exc:
        return _diag(doc, where, f"{resources.ENV}: {exc}", code="memory")


def _check_model_memory(model: Model, graph: ModelGraph, doc: Located, prefix: PathParts) -> list[Diagnostic]:
    """A Model alone: its parameters must fit (held once, in float64)."""
    limit = memory_limit(doc, prefix)
    if isinstance(limit, Diagnostic):
        return [limit]
    section = "layers" if model.layers is not None else "nodes"
    needs = resources.parameter_needs(graph, prefix, section, copies=1)
    found = resources.too_much(needs, limit, "to hold the model in float64")
    return [] if found is None else [_diag(doc, found[0].path, found[1], code="memory")]

