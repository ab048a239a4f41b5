"""A Model as an ordered graph of named nodes with inferred per-sample shapes and dtypes.

One implementation serves the validator (which reports problems with their location) and the
reference (which executes the nodes in this order), so the two can never disagree on naming,
order or shapes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from lockstep.spec.base import Shape, ShapeError
from lockstep.spec.documents import Model
from lockstep.spec.layers import LayerBase, ParamSpec


@dataclass
class Node:
    name: str
    layer: LayerBase
    inputs: list[str]  # node or model-input names
    index: int  # position in the document's `layers` or `nodes` list
    input_shapes: list[Shape] = field(default_factory=list)
    shape: Shape = ()
    dtype: str = "float"

    @property
    def type(self) -> str:
        return self.layer.type  # type: ignore[attr-defined]


@dataclass
class GraphProblem:
    """A semantic problem in a model: `where` is the field path of the offending node or field."""

    where: tuple[str | int, ...]
    message: str
    suggestion: str | None = None


@dataclass
class ModelGraph:
    model: Model
    input_shapes: dict[str, Shape]
    input_dtypes: dict[str, str]
    nodes: list[Node]  # topological order
    outputs: list[str]
    problems: list[GraphProblem]

    @property
    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def shape_of(self, name: str) -> Shape:
        return self.input_shapes[name] if name in self.input_shapes else self.by_name[name].shape

    def output_shapes(self) -> list[Shape]:
        return [self.shape_of(o) for o in self.outputs]

    def parameters(self) -> dict[str, ParamSpec]:
        """Canonical name `<node>.<param>` -> ParamSpec, in node order."""
        return {f"{n.name}.{k}": v for n in self.nodes for k, v in n.layer.parameters(n.input_shapes).items()}

    def buffers(self) -> dict[str, ParamSpec]:
        return {f"{n.name}.{k}": v for n in self.nodes for k, v in n.layer.buffers(n.input_shapes).items()}

    def token_tables(self) -> list[tuple[Node, int]]:
        """(embedding, its input_dim) for each embedding the first model input feeds directly: the token indices the
        data may hold are 0 to the smallest input_dim - 1 (validation and a run both check them)."""
        name = self.model.inputs[0].name if self.model.inputs else None
        return [(n, n.layer.input_dim) for n in self.nodes  # type: ignore[attr-defined]
                if n.type == "embedding" and name in n.inputs]

    def param_names(self, node: Node) -> dict[str, str]:
        """Short name -> canonical name of every parameter `node` computes with: its own (`<node>.<param>`) and
        the ones it is tied to (`<owner>.<param>`: one array, owned by the other layer, e.g. a dense head tied
        to an embedding's table)."""
        names = {k: f"{node.name}.{k}" for k in node.layer.parameters(node.input_shapes)}
        names.update({k: f"{owner}.{p}" for k, (owner, p) in node.layer.ties().items()})
        return names


def default_name(layer: LayerBase, index: int) -> str:
    return layer.name or f"{layer.type}_{index}"  # type: ignore[attr-defined]


def _section(model: Model) -> str:
    return "layers" if model.layers is not None else "nodes"


def build_graph(model: Model) -> ModelGraph:
    """Order, name and shape every node; problems are collected, never raised."""
    problems: list[GraphProblem] = []
    input_shapes = {i.name: tuple(i.shape) for i in model.inputs}
    input_dtypes = {i.name: i.dtype for i in model.inputs}
    section = _section(model)
    raw = model.layers if model.layers is not None else model.nodes or []
    nodes: list[Node] = []
    if model.layers is not None:
        if len(model.inputs) != 1:
            problems.append(GraphProblem(("inputs",), f"a sequence model has exactly one input, got "
                                         f"{len(model.inputs)}; use `nodes` for several"))
        prev = model.inputs[0].name
        for i, layer in enumerate(raw):
            if layer.inputs is not None:
                problems.append(GraphProblem((section, i, "inputs"), "`inputs` belongs to graph models "
                                             "(`nodes`); in `layers` each layer takes the previous output"))
            if layer.arity == 0:
                problems.append(GraphProblem((section, i, "type"), f"`{layer.type}` merges several inputs "  # type: ignore[attr-defined]
                                             "and needs a graph model (`nodes` with `inputs`)"))
            nodes.append(Node(default_name(layer, i), layer, [prev], i))
            prev = nodes[-1].name
        outputs = [prev]
    else:
        for i, layer in enumerate(raw):
            if not layer.name:
                problems.append(GraphProblem((section, i), "every node of a graph needs a `name`"))
            if not layer.inputs:
                problems.append(GraphProblem((section, i), "every node of a graph needs `inputs`"))
            elif layer.arity == 1 and len(layer.inputs) != 1:
                problems.append(GraphProblem((section, i, "inputs"), f"`{layer.type}` takes exactly one input, "  # type: ignore[attr-defined]
                                             f"got {len(layer.inputs)}; merge them first with `add` or `concat`"))
            nodes.append(Node(default_name(layer, i), layer, list(layer.inputs or []), i))
        outputs = list(model.outputs or [])

    # unique names
    seen: dict[str, int] = {}
    for n in nodes:
        if n.name in input_shapes:
            problems.append(GraphProblem((section, n.index, "name"), f"name `{n.name}` is already a model input"))
        elif n.name in seen:
            problems.append(GraphProblem((section, n.index, "name"),
                                         f"name `{n.name}` is used twice (first at {section}[{seen[n.name]}])"))
        else:
            seen[n.name] = n.index
    known = set(input_shapes) | set(seen)
    for n in (nodes if model.nodes is not None else []):  # a sequence's inputs are implied, never a user's mistake
        for j, ref in enumerate(n.inputs):  # (with a name used twice, layer 1 "took itself" at a field not written)
            if ref not in known:
                close = difflib.get_close_matches(ref, sorted(known), n=1)
                problems.append(GraphProblem((section, n.index, "inputs", j),
                                             f"node `{n.name}` takes `{ref}`, which is neither a node nor an input",
                                             close[0] if close else None))
            elif ref == n.name:
                problems.append(GraphProblem((section, n.index, "inputs", j), f"node `{n.name}` takes itself"))
    for j, out in enumerate(outputs if model.outputs is not None else []):
        if out not in known:
            close = difflib.get_close_matches(out, sorted(known), n=1)
            problems.append(GraphProblem(("outputs", j), f"output `{out}` is not a node",
                                         close[0] if close else None))

    ordered = _topological(nodes, set(input_shapes), section, problems)
    if model.nodes is not None and not problems:
        used = _reachable(ordered, outputs)
        for n in ordered:
            if n.name not in used:
                problems.append(GraphProblem((section, n.index), f"node `{n.name}` does not feed any output"))
    graph = ModelGraph(model, input_shapes, input_dtypes, ordered, outputs, problems)
    if not problems:
        _infer(graph, section)
    return graph


def _topological(nodes: list[Node], inputs: set[str], section: str, problems: list[GraphProblem]) -> list[Node]:
    by_name = {n.name: n for n in nodes}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    order: list[Node] = []

    def visit(n: Node, stack: list[str]) -> None:
        if state.get(n.name) == 2:
            return
        if state.get(n.name) == 1:
            cycle = [*stack[stack.index(n.name):], n.name]
            problems.append(GraphProblem((section, n.index, "inputs"), "the graph has a cycle: "
                                         + " -> ".join(f"`{c}`" for c in cycle)))
            return
        state[n.name] = 1
        for ref in n.inputs:
            if ref in by_name and ref not in inputs and ref != n.name:
                visit(by_name[ref], [*stack, n.name])
        state[n.name] = 2
        order.append(n)

    for n in nodes:
        if not any(p.message.startswith("the graph has a cycle") for p in problems):
            visit(n, [])
    return order if len(order) == len(nodes) else nodes


def _reachable(nodes: list[Node], outputs: list[str]) -> set[str]:
    by_name = {n.name: n for n in nodes}
    todo, seen = list(outputs), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        todo.extend(by_name[name].inputs)
    return seen


def _describe(graph: ModelGraph, name: str) -> str:
    if name in graph.input_shapes:
        return f"input `{name}`"
    return f"`{name}` ({graph.by_name[name].type})"


def _infer(graph: ModelGraph, section: str) -> None:
    shapes: dict[str, Shape] = dict(graph.input_shapes)
    dtypes: dict[str, str] = {k: ("int" if v == "int64" else "float") for k, v in graph.input_dtypes.items()}
    for n in graph.nodes:
        if any(ref not in shapes for ref in n.inputs):
            return  # an upstream node already failed
        n.input_shapes = [shapes[ref] for ref in n.inputs]
        got = {dtypes[ref] for ref in n.inputs}
        want = n.layer.input_dtype
        if want not in got or len(got) > 1:
            src = ", ".join(_describe(graph, r) for r in n.inputs)
            what = "integer indices (an input with `dtype: int64`)" if want == "int" else "floating-point values"
            graph.problems.append(GraphProblem((section, n.index), f"`{n.name}` ({n.type}) needs {what}, "
                                               f"but {src} gives {'integers' if 'int' in got else 'floats'}"))
            return
        try:
            n.shape = tuple(n.layer.output_shape(n.input_shapes))
        except ShapeError as exc:
            src = ", ".join(f"{_describe(graph, r)} {list(shapes[r])}" for r in n.inputs)
            graph.problems.append(GraphProblem((section, n.index),
                                               f"layer `{n.name}` ({n.type}) cannot take {src}: {exc}"))
            return
        shapes[n.name] = n.shape
        dtypes[n.name] = "float"
        if n.layer.ties():
            problem = _tie_problem(graph, n)
            if problem:
                graph.problems.append(GraphProblem((section, n.index, "tied_to"), *problem))
                return
        params = n.layer.parameters(n.input_shapes)
        for key in n.layer.initializers:
            if key not in params:
                close = difflib.get_close_matches(key, list(params), n=1)
                graph.problems.append(GraphProblem(
                    (section, n.index, "initializers", key),
                    f"`{n.name}` ({n.type}) has no parameter `{key}`; its parameters are "
                    f"{', '.join(params) or 'none'}", close[0] if close else None))


def _tie_problem(graph: ModelGraph, node: Node) -> tuple[str, str | None] | None:
    """Why `node`'s tied parameter cannot be the one it names (an `embedding` whose table, transposed, is a dense
    weight of this node's shape), with a suggestion; None when it can."""
    owner = node.layer.tied_to  # type: ignore[attr-defined]
    layers = {n.name: n for n in graph.nodes}
    target = layers.get(owner)
    if target is None or target is node:
        close = difflib.get_close_matches(owner, [n.name for n in graph.nodes if n.type == "embedding"], n=1)
        what = "itself" if target is node else "no layer of this model"
        return f"`{node.name}` ({node.type}) is tied to `{owner}`, which is {what}", close[0] if close else None
    if target.type != "embedding":
        return f"`{node.name}` ({node.type}) is tied to `{owner}`, a {target.type}: only an embedding's table can " \
               "be tied", None
    want = (node.input_shapes[0][-1], node.layer.units)  # type: ignore[attr-defined]
    table = (target.layer.input_dim, target.layer.output_dim)  # type: ignore[attr-defined]
    if table != want[::-1]:
        return (f"`{node.name}` ({node.type}, {want[0]} features in, {want[1]} units) is tied to `{owner}`, whose "
                f"table is [input_dim, output_dim] = {list(table)}: it needs [{want[1]}, {want[0]}] (units = "
                "input_dim, input features = output_dim)", None)
    return None
