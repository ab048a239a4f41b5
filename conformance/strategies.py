"""Hypothesis strategies that generate *valid* Lockstep documents, inputs and hyper-parameters.

All generation lives here (the array-api-tests habit: helpers in one place). Every strategy draws
small sizes so that one example runs in milliseconds on the float64 reference, and leans on the
corners where frameworks diverge: stride with 'same' padding, label smoothing, amsgrad, centered
RMSprop, Nesterov, coupled vs decoupled decay, warm-up boundaries; and a share of every construct's cases
(conformance/edges.py, EDGE_SHARE) goes to its edge classes: exact kinks and ties, saturated outputs, large
offsets and magnitudes, length-1 and blocking-threshold sizes, clipping thresholds, schedule boundaries.

A generated case is a plain dict (a Model document, or a Recipe fragment) so that a failure can be
written out verbatim as a standalone spec file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from lockstep.conformance import edges

API = "lockstep/v1"
Doc = dict[str, Any]

small = st.integers(min_value=1, max_value=4)
units = st.integers(min_value=1, max_value=6)
unit_float = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def model_doc(name: str, input_shape: list[int], layers: list[Doc], *, input_dtype: str = "float") -> Doc:
    inp: Doc = {"name": "x", "shape": list(input_shape)}
    if input_dtype != "float":
        inp["dtype"] = input_dtype
    return {"apiVersion": API, "kind": "Model", "metadata": {"name": name}, "inputs": [inp], "layers": layers}


# ------------------------------------------------------------------------------------ single layers
@st.composite
def dense_case(draw) -> tuple[list[int], Doc]:
    rank = draw(st.integers(1, 2))
    shape = [draw(small) for _ in range(rank)]
    return shape, {"type": "dense", "units": draw(units), "use_bias": draw(st.booleans())}


def _padding(draw, n: int):
    return draw(st.one_of(
        st.just("same"),  # 'same' is where frameworks diverge (see `_same_corner`): drawn in 3 cases of 10
        st.sampled_from(["valid", "same"]),
        st.integers(0, 2),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
        st.lists(st.integers(0, 2), min_size=2 * n, max_size=2 * n),
    ))


def _same_corner(draw) -> bool:
    """Whether a 'same' case is steered into the corner where 'same' is asymmetric (3 in 4): a stride-2 axis
    whose total padding is odd, so the odd element's side (the end: TF's SAME, ONNX's SAME_UPPER) matters."""
    return draw(st.integers(0, 3)) < 3


@st.composite
def conv_case(draw, spatial: int) -> tuple[list[int], Doc]:
    groups = draw(st.sampled_from([1, 1, 2]))
    channels = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 3))
    size = [draw(st.integers(3, 7)) for _ in range(spatial)]
    kernel = [draw(st.integers(1, 3)) for _ in range(spatial)]
    stride = [draw(st.integers(1, 2)) for _ in range(spatial)]
    dilation = [draw(st.integers(1, 2)) for _ in range(spatial)]
    for i in range(spatial):  # keep the dilated kernel inside the unpadded input so 'valid' fits
        while (kernel[i] - 1) * dilation[i] + 1 > size[i]:
            dilation[i] = 1
            kernel[i] = max(1, kernel[i] - 1)
    padding = _padding(draw, spatial)
    if padding == "same" and _same_corner(draw):
        i = draw(st.integers(0, spatial - 1))
        stride[i], dilation[i] = 2, 1
        kernel[i] = 3 if size[i] % 2 == 0 else 2  # stride 2: total padding 1, an odd element to place
    layer: Doc = {
        "type": f"conv{spatial}d",
        "filters": filters,
        "kernel_size": kernel if spatial > 1 and draw(st.booleans()) else kernel[0] if len(set(kernel)) == 1
        else kernel,
        "stride": stride if len(set(stride)) > 1 else stride[0],
        "padding": padding,
        "dilation": dilation if len(set(dilation)) > 1 else dilation[0],
        "groups": groups,
        "use_bias": draw(st.booleans()),
    }
    return [channels, *size], layer


@st.composite
def pool_case(draw, kind: str) -> tuple[list[int], Doc]:
    size = [draw(st.integers(2, 7)) for _ in range(2)]
    k = draw(st.integers(1, 3))
    k = min(k, *size)
    layer: Doc = {"type": kind, "kernel_size": k, "padding": draw(st.sampled_from(["valid", "same"]))}
    if layer["padding"] == "same" and _same_corner(draw):
        layer.update(kernel_size=2, stride=2)
        size[0] += 1 - size[0] % 2  # odd: total padding 1 on the first axis
    elif draw(st.booleans()):
        layer["stride"] = draw(st.integers(1, 3))
    return [draw(small), *size], layer


@st.composite
def norm_case(draw, kind: str) -> tuple[list[int], Doc]:
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    if kind == "batch_norm":
        layer: Doc = {"type": kind, "momentum": draw(st.sampled_from([0.1, 0.5, 1.0])),
                      "epsilon": draw(st.sampled_from([1e-5, 1e-3]))}
    else:
        layer = {"type": kind, "dims": draw(st.integers(1, len(shape))),
                 "epsilon": draw(st.sampled_from([1e-5, 1e-3]))}
    return shape, layer


@st.composite
def recurrent_case(draw, kind: str) -> tuple[list[int], Doc]:
    return [draw(st.integers(1, 5)), draw(small)], {
        "type": kind, "units": draw(st.integers(1, 4)), "return_sequences": draw(st.booleans())}


@st.composite
def attention_case(draw) -> tuple[list[int], Doc]:
    heads = draw(st.integers(1, 3))
    rotary = draw(st.one_of(st.none(), st.fixed_dictionaries({  # rotary (RoPE) in 1 case of 2: even head sizes
        "base": st.sampled_from([10000.0, 100.0, 3.0]), "pairing": st.sampled_from(["half_split", "interleaved"])})))
    head = 2 * draw(st.integers(1, 2)) if rotary else draw(st.integers(1, 3))
    layer: Doc = {"type": "multi_head_attention", "num_heads": heads, "causal": draw(st.booleans()),
                  "use_bias": draw(st.booleans())}
    if rotary:
        layer["rotary"] = rotary
    return [draw(st.integers(1, 5)), heads * head], layer


@st.composite
def elementwise_case(draw, kind: str) -> tuple[list[int], Doc]:
    shape = [draw(small) for _ in range(draw(st.integers(1, 3)))]
    layer: Doc = {"type": kind}
    if kind == "leaky_relu":
        layer["negative_slope"] = draw(st.sampled_from([0.01, 0.2, 0.3]))
    elif kind == "elu":
        layer["alpha"] = draw(st.sampled_from([1.0, 0.5]))
    elif kind == "gelu":
        layer["approximate"] = draw(st.sampled_from(["none", "tanh"]))
    elif kind in ("softmax", "log_softmax"):
        layer["axis"] = draw(st.integers(-len(shape), len(shape) - 1))
    elif kind == "dropout":
        layer["rate"] = draw(st.sampled_from([0.0, 0.25, 0.5]))
    elif kind == "reshape":
        layer["shape"] = [-1]
    return shape, layer


@st.composite
def embedding_case(draw) -> tuple[list[int], Doc]:
    return [draw(st.integers(1, 5))], {"type": "embedding", "input_dim": draw(st.integers(2, 9)),
                                       "output_dim": draw(small)}


@st.composite
def rms_norm_case(draw) -> tuple[list[int], Doc]:
    # the last axis has 2 values or more: over one value rms_norm is x/√(x² + ε) ≈ sign(x), whose gradient
    # ε/(x² + ε)^(3/2) is all cancellation (the derived bounds cover it; fixed-rule agreement tests cannot)
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(0, 2)))] + [draw(st.integers(2, 4))]
    return shape, {"type": "rms_norm", "dims": draw(st.integers(1, len(shape))),
                   "epsilon": draw(st.sampled_from([1e-6, 1e-5, 1e-3])), "scale": draw(st.booleans())}


@st.composite
def positional_embedding_case(draw) -> tuple[list[int], Doc]:
    steps = draw(st.integers(1, 6))
    return [steps, draw(st.integers(1, 5))], {
        "type": "positional_embedding", "encoding": draw(st.sampled_from(["learned", "sinusoidal"])),
        "max_length": steps + draw(st.integers(0, 3)), "base": draw(st.sampled_from([10000.0, 10.0]))}


@st.composite
def tied_dense_model(draw) -> Doc:
    """dense `tied_to` an embedding (in 1 case of 3 of `dense`): indices -> embedding -> tanh -> tied head, so the
    table's gradient adds its two uses (the lookup and the head)."""
    vocab, width = draw(st.integers(2, 7)), draw(st.integers(1, 4))
    layers = [{"type": "embedding", "name": "table", "input_dim": vocab, "output_dim": width},
              {"type": "tanh", "name": "mix"},
              {"type": "dense", "name": "dense", "units": vocab, "tied_to": "table", "use_bias": draw(st.booleans())}]
    return model_doc("case-dense-tied", [draw(st.integers(1, 4))], layers, input_dtype="int64")


LAYER_CASES: dict[str, Any] = {  # per layer: a strategy of (input shape, layer fields); merges: see MERGE_LAYERS
    "dense": st.one_of(dense_case(), dense_case(), tied_dense_model()),  # a tied head draws a whole Model
    "conv1d": conv_case(1),
    "conv2d": conv_case(2),
    "max_pool2d": pool_case("max_pool2d"),
    "avg_pool2d": pool_case("avg_pool2d"),
    "batch_norm": norm_case("batch_norm"),
    "layer_norm": norm_case("layer_norm"),
    "rms_norm": rms_norm_case(),
    "lstm": recurrent_case("lstm"),
    "gru": recurrent_case("gru"),
    "multi_head_attention": attention_case(),
    "embedding": embedding_case(),
    "positional_embedding": positional_embedding_case(),
    **{k: elementwise_case(k) for k in (
        "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax",
        "dropout", "flatten", "reshape")},
}


@st.composite
def global_pool_case(draw) -> tuple[list[int], Doc]:
    return [draw(small) for _ in range(draw(st.integers(2, 3)))], {"type": "global_avg_pool"}


LAYER_CASES["global_avg_pool"] = global_pool_case()


MERGE_LAYERS = ("add", "multiply", "concat")
"""Layers of several inputs: their LAYER_CASES entry draws a whole small graph Model (`merge_model`)."""


@st.composite
def layer_model(draw, construct: str) -> Doc:
    """A one-layer Model exercising `construct` (merge layers get a small graph), with a dense probe in front of it
    where the layer's gradient *into* it must be compared: level 2 compares parameter gradients, and only a
    parameter upstream of the layer passes through that input gradient. A layer without parameters (an
    activation, a pool, dropout, a norm without scale) always gets one: otherwise level 2 compared its loss alone,
    and a tanh whose derivative read the wrong saved tensor was certified (mutant `tanh_gradient_from_input`). A
    layer with parameters gets one in a drawn half of the cases (its bare cases keep a failure on the layer
    alone; without the probe a layer_norm whose input gradient held μ and σ² constant was certified: mutant
    `layer_norm_statistics_detached`). The probe keeps the shape (units = the last axis)."""
    drawn = draw(LAYER_CASES[construct])
    if construct in MERGE_LAYERS or isinstance(drawn, dict):  # a whole Model (merges, a tied dense head)
        return drawn
    shape, layer = drawn
    layer["name"] = construct
    dtype = "int64" if construct == "embedding" else "float"
    doc = model_doc(f"case-{construct}", shape, [layer], input_dtype=dtype)
    if dtype == "float" and (not _parameters(doc) or draw(st.booleans())):
        probed = model_doc(f"case-{construct}", shape, [probe(shape), layer], input_dtype=dtype)
        if _output_shape(probed) is not None:
            return probed
    return doc


def probe(shape: list[int]) -> Doc:
    """A dense layer that keeps `shape` (it maps the last axis onto itself): parameters upstream of a layer, so that
    a gradient reaches them through the layer's backward."""
    return {"type": "dense", "name": "probe", "units": shape[-1]}


def _parameters(doc: Doc) -> int:
    """How many parameter tensors a Model document has (0 for one that does not validate)."""
    from lockstep.spec.documents import Model
    from lockstep.spec.graph import build_graph

    try:
        return len(build_graph(Model.model_validate(doc)).parameters())
    except Exception:
        return 0


@st.composite
def merge_model(draw, construct: str) -> Doc:
    width = draw(st.integers(1, 5))
    n = draw(st.integers(2, 3))
    nodes: list[Doc] = [
        {"name": f"branch{i}", "type": "dense", "units": width if construct in ("add", "multiply") else draw(small),
         "inputs": ["x"]} for i in range(n)
    ]
    nodes.append({"name": construct, "type": construct, "inputs": [f"branch{i}" for i in range(n)]})
    return {"apiVersion": API, "kind": "Model", "metadata": {"name": f"case-{construct}"},
            "inputs": [{"name": "x", "shape": [draw(small)]}], "nodes": nodes, "outputs": [construct]}


LAYER_CASES.update({name: merge_model(name) for name in MERGE_LAYERS})


# ------------------------------------------------------------------------------- random sequences
CHAINABLE_RANK1 = ["dense", "relu", "tanh", "gelu", "silu", "sigmoid", "elu", "leaky_relu", "layer_norm",
                   "batch_norm", "dropout"]


@st.composite
def sequence_model(draw, max_layers: int = 5) -> Doc:
    """A random feed-forward stack over [features] whose shapes agree by construction."""
    features = draw(st.integers(1, 6))
    layers: list[Doc] = []
    for i in range(draw(st.integers(1, max_layers))):
        kind = draw(st.sampled_from(CHAINABLE_RANK1))
        layer: Doc = {"type": kind, "name": f"l{i}"}
        if kind == "dense":
            layer["units"] = draw(units)
        elif kind == "dropout":
            layer["rate"] = 0.25
        layers.append(layer)
    layers.append({"type": "dense", "name": "head", "units": draw(st.integers(1, 4))})
    return model_doc("random-sequence", [features], layers)


@st.composite
def graph_model(draw) -> Doc:
    """A random residual/concat graph over [features]."""
    width = draw(st.integers(1, 5))
    nodes: list[Doc] = [{"name": "n0", "type": "dense", "units": width, "inputs": ["x"]}]
    names = ["n0"]
    for i in range(1, draw(st.integers(2, 5))):
        kind = draw(st.sampled_from(["dense", "tanh", "add", "layer_norm"]))
        node: Doc = {"name": f"n{i}", "type": kind}
        if kind == "add":
            node["inputs"] = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2))
        else:
            node["inputs"] = [draw(st.sampled_from(names))]
            if kind == "dense":
                node["units"] = width
        nodes.append(node)
        names.append(node["name"])
    nodes.append({"name": "cat", "type": "concat", "inputs": [names[-1], "n0"]})
    nodes.append({"name": "out", "type": "dense", "units": draw(st.integers(1, 3)), "inputs": ["cat"]})
    used = {i for n in nodes for i in n["inputs"]}
    # every node must feed an output: sum leftovers into the concat
    dangling = [n for n in names if n not in used and n != names[-1]]
    nodes[-2]["inputs"] += dangling
    return {"apiVersion": API, "kind": "Model", "metadata": {"name": "random-graph"},
            "inputs": [{"name": "x", "shape": [draw(st.integers(1, 5))]}], "nodes": nodes, "outputs": ["out"]}


# ----------------------------------------------------------------------------- training fragments
def _lr():
    return st.sampled_from([1e-3, 1e-2, 0.1, 0.3])


def _sgd_fields(draw, opt: Doc) -> None:
    opt["momentum"] = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    opt["dampening"] = draw(st.sampled_from([0.0, 0.1, 0.5]))  # with momentum: b_1 = g is the corner
    # Nesterov with dampening too: the standard defines it (d = g + μb), torch.optim.SGD refuses it (the torch
    # adapter declines those cases, skipped and counted), and an adapter that writes it must be checked on it
    opt["nesterov"] = bool(opt["momentum"] > 0 and draw(st.booleans()))


def _adam_fields(draw, opt: Doc) -> None:
    opt["beta1"] = draw(st.sampled_from([0.0, 0.5, 0.9]))
    opt["beta2"] = draw(st.sampled_from([0.9, 0.999, 0.0]))  # 0: v is this step's g² (Keras cancelled it)
    opt["epsilon"] = draw(st.sampled_from([1e-8, 1e-3, 0.1]))
    opt["amsgrad"] = draw(st.booleans())


def _adamw_fields(draw, opt: Doc) -> None:
    _adam_fields(draw, opt)
    opt["weight_decay"] = draw(st.sampled_from([0.0, 0.01, 0.1]))


def _rmsprop_fields(draw, opt: Doc) -> None:
    opt["rho"] = draw(st.sampled_from([0.9, 0.99]))
    opt["epsilon"] = draw(st.sampled_from([1e-8, 1e-3, 0.1]))
    opt["momentum"] = draw(st.sampled_from([0.0, 0.9]))
    opt["centered"] = draw(st.booleans())


def _adagrad_fields(draw, opt: Doc) -> None:
    opt["epsilon"] = draw(st.sampled_from([1e-10, 1e-3]))
    opt["initial_accumulator_value"] = draw(st.sampled_from([0.0, 0.1]))


def _no_fields(draw, doc: Doc) -> None:
    """A construct drawn with its defaults only (beyond what every construct of its kind draws)."""


OPTIMIZER_CASES: dict[str, Any] = {"sgd": _sgd_fields, "adam": _adam_fields, "adamw": _adamw_fields,
                                   "rmsprop": _rmsprop_fields, "adagrad": _adagrad_fields}
"""Per optimizer, `fields(draw, opt)`: its hyper-parameters, drawn into the optimizer document."""


@st.composite
def optimizer_case(draw, kind: str) -> Doc:
    opt: Doc = {"type": kind, "learning_rate": draw(_lr())}
    OPTIMIZER_CASES[kind](draw, opt)
    return opt


def _step_fields(draw, sched: Doc) -> None:
    sched.update(step_size=draw(st.integers(1, 3)), gamma=draw(st.sampled_from([0.1, 0.5])))


def _exponential_fields(draw, sched: Doc) -> None:
    sched["gamma"] = draw(st.sampled_from([0.5, 0.9]))


def _cosine_fields(draw, sched: Doc) -> None:
    sched.update(decay_steps=draw(st.integers(1, 4)), min_learning_rate=draw(st.sampled_from([0.0, 1e-3])))


SCHEDULE_CASES: dict[str, Any] = {"constant": _no_fields, "step": _step_fields, "exponential": _exponential_fields,
                                  "cosine": _cosine_fields, "warmup": _no_fields}
"""Per schedule, `fields(draw, sched)`; `warmup` is a constant schedule that always warms up (any other schedule
warms up in half of its cases)."""


@st.composite
def schedule_case(draw, kind: str) -> Doc:
    sched: Doc = {"type": kind}
    SCHEDULE_CASES[kind](draw, sched)
    if kind == "warmup" or draw(st.booleans()):
        sched["type"] = "constant" if kind == "warmup" else kind
        sched["warmup"] = {"steps": draw(st.integers(1, 3)), "start_factor": draw(st.sampled_from([0.0, 0.25]))}
    return sched


def _huber_fields(draw, loss: Doc) -> None:
    loss["delta"] = draw(st.sampled_from([0.5, 1.0, 2.0]))


def _cross_entropy_fields(draw, loss: Doc) -> None:
    loss["from_logits"] = draw(st.booleans())
    loss["label_smoothing"] = draw(st.sampled_from([0.0, 0.1, 0.2]))


LOSS_CASES: dict[str, Any] = {"mse": _no_fields, "mae": _no_fields, "huber": _huber_fields,
                              "binary_crossentropy": _cross_entropy_fields,
                              "categorical_crossentropy": _cross_entropy_fields,
                              "sparse_categorical_crossentropy": _cross_entropy_fields, "nll": _no_fields}
"""Per loss, `fields(draw, loss)` beyond the reduction every loss draws."""


@st.composite
def loss_case(draw, kind: str, outputs: int) -> Doc:
    loss: Doc = {"type": kind, "reduction": draw(st.sampled_from(["mean", "sum"]))}
    LOSS_CASES[kind](draw, loss)
    return loss


CLIPPING_CASES: dict[str, Any] = {
    "global_norm": lambda draw: {"type": "global_norm", "max_norm": draw(st.sampled_from([1e-3, 0.1, 1.0, 100.0]))},
    "value": lambda draw: {"type": "value", "clip_value": draw(st.sampled_from([1e-3, 0.05, 10.0]))},
}
"""Per clipping, `fn(draw) -> the gradient_clipping document`."""


@st.composite
def clipping_case(draw, kind: str) -> Doc:
    return CLIPPING_CASES[kind](draw)


REGULARIZATION_CASES: dict[str, Any] = {"l2": lambda draw: {"l2": draw(st.sampled_from([1e-3, 0.01, 0.1]))}}
"""Per regularization, `fn(draw) -> the regularization document`."""


def _names(kind: str) -> list[str]:
    from lockstep.spec import constructs

    return list(constructs.names(kind))  # type: ignore[arg-type]


LAYERS = sorted(_names("layer"))
LOSSES = _names("loss")
OPTIMIZERS = _names("optimizer")
SCHEDULES = [*_names("schedule"), *_names("warmup")]
CLIPPING = _names("clipping")
REGULARIZATION = _names("regularization")


# ----------------------------------------------------------------------------- conformance cases
# One strategy per kind of construct (`*_problem`), each drawing a whole `Case` (model, training fields, seed, batch)
# that exercises the construct; conformance/suite.py picks them by construct name.
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def layer_problem(draw, construct: str):
    """A one-layer model (merge layers: a small graph) trained with mse on N(0, 1) targets; in EDGE_SHARE of the
    cases steered into one of the construct's edge classes (conformance/edges.py)."""
    from lockstep.conformance.cases import Case, batch_norm_can_train

    edge = edges.pick(draw, edges.LAYER_EDGES.get(construct, ()))
    model = draw(edge_layer_model(construct, edge)) if edge else draw(layer_model(construct))
    batch = 1 if edge == "tiny_shape" else draw(st.integers(1, 5))
    case = Case(construct, model, seed=draw(seeds), batch=batch, edges=(edge,) if edge else ())
    if not batch_norm_can_train(case):
        case = replace(case, batch=case.batch + 1)
    return case


@st.composite
def edge_layer_model(draw, construct: str, edge: str) -> Doc:
    """`layer_model(construct)` moved into a structural edge class (`tiny_shape`, `blocking`); for `kink` a dense
    probe on the lattice goes first, so that a kink's gradient reaches a parameter (level 2 compares parameter
    gradients). Array classes change only the arrays (conformance/edges.py)."""
    drawn = draw(LAYER_CASES[construct])
    if construct in MERGE_LAYERS or isinstance(drawn, dict):  # a whole Model (merges, a tied dense head)
        return drawn
    shape, layer = drawn
    layer["name"] = construct
    layers = [layer]
    if edge == "tiny_shape":
        shape, layer = _tiny(construct, shape, layer)
        layers = [layer]
    elif edge == "blocking":
        shape, layer = _blocking(draw, construct, shape, layer)
        layers = [layer]
    elif edge == "kink" and construct != "dense":  # a dense probe keeps the shape and feeds the kink
        layers = [probe(shape), layer]
    doc = model_doc(f"case-{construct}", shape, layers, input_dtype="int64" if construct == "embedding" else "float")
    if _output_shape(doc) is None:  # not a valid edge of this draw: the plain layer
        return model_doc(f"case-{construct}", shape, [layer] if edge != "kink" else layers,
                         input_dtype="int64" if construct == "embedding" else "float")
    return doc


_SEQUENCE = ("lstm", "gru", "multi_head_attention", "embedding")


def _tiny(construct: str, shape: list[int], layer: Doc) -> tuple[list[int], Doc]:
    """Length-1 sequences, 1×1 feature maps, one-element axes."""
    if construct in ("conv1d", "conv2d"):
        n = len(shape) - 1
        layer = {**layer, "kernel_size": 1, "dilation": 1,
                 "padding": layer["padding"] if isinstance(layer["padding"], str) else 0}
        return [shape[0], *[1] * n], layer
    if construct in ("max_pool2d", "avg_pool2d"):
        return [shape[0], 1, 1], {**layer, "kernel_size": 1}
    if construct == "global_avg_pool":
        return [shape[0], *[1] * (len(shape) - 1)], layer
    if construct in _SEQUENCE:
        return [1, *shape[1:]], layer
    return [1] * len(shape), layer


def _blocking(draw, construct: str, shape: list[int], layer: Doc) -> tuple[list[int], Doc]:
    """One inner size from edges.BLOCK_SIZES (the others stay small, so a case stays cheap)."""
    size = draw(st.sampled_from(edges.BLOCK_SIZES))
    inner = draw(st.booleans())  # the reduction side (inputs) or the produced side (units, filters)
    if construct == "dense":
        return ([*shape[:-1], size], layer) if inner else (shape, {**layer, "units": size})
    if construct in ("conv1d", "conv2d"):
        layer = {**layer, "groups": 1}
        sizes = [min(d, 5) for d in shape[1:]]
        if inner:
            return [size, *sizes], {**layer, "filters": draw(st.integers(1, 3))}
        return [draw(st.integers(1, 2)), *sizes], {**layer, "filters": size}
    if construct in ("lstm", "gru"):
        steps = min(shape[0], 3)
        return ([steps, size], layer) if inner else ([steps, shape[1]], {**layer, "units": size})
    if construct == "multi_head_attention":
        heads = draw(st.sampled_from([h for h in (1, 2, 3) if size % h == 0]))
        layer = {**layer, "num_heads": heads}
        if (size // heads) % 2:  # rotary pairs the columns of a head: an odd head size has none to rotate with
            layer.pop("rotary", None)
        return [min(shape[0], 4), size], layer
    return shape, layer


HEADS = {  # what turns logits into the loss's input when the loss reads probabilities / log-probabilities
    "nll": [{"type": "log_softmax"}],
    "categorical_crossentropy": [{"type": "softmax"}],
    "sparse_categorical_crossentropy": [{"type": "softmax"}],
    "binary_crossentropy": [{"type": "sigmoid"}],
}
LOSS_TARGETS = {"sparse_categorical_crossentropy": "classes", "nll": "classes",
                "categorical_crossentropy": "probabilities", "binary_crossentropy": "binary"}


@st.composite
def loss_problem(draw, construct: str):
    """A dense model (sometimes over a sequence, so the loss reduces over positions too) under the loss."""
    from lockstep.conformance.cases import Case

    edge = edges.pick(draw, edges.LOSS_EDGES.get(construct, ()))
    classes = draw(st.integers(2, 5))
    loss = draw(loss_case(construct, classes))
    if edge == "saturated" and "from_logits" in loss:
        # probabilities of exactly 0 and 1 against targets of weight 0 in 2 of 3 cases (0·log 0); smoothing
        # would put weight on the saturated side (an infinite loss, which is not this edge)
        loss["from_logits"] = draw(st.sampled_from([False, False, True]))
        if not loss["from_logits"]:
            loss["label_smoothing"] = 0.0
    head = HEADS.get(construct, []) if not loss.get("from_logits", False) else []
    shape = [draw(small)] if draw(st.booleans()) else [draw(st.integers(1, 3)), draw(small)]
    batch = draw(st.integers(1, 5))
    if edge == "tiny_shape":
        shape, batch = [1] * len(shape), 1
    layers = [{"type": "dense", "name": "out", "units": classes}, *head]
    return Case(construct, model_doc(f"case-{construct}", shape, layers), {"loss": loss}, seed=draw(seeds),
                batch=batch, targets=LOSS_TARGETS.get(construct, "regression"), edges=(edge,) if edge else ())


def _training_model(draw, name: str) -> Doc:
    """A small two-layer model whose gradients are all non-zero (training-level cases)."""
    features = draw(st.integers(1, 4))
    hidden = draw(st.integers(1, 4))
    return model_doc(name, [features], [{"type": "dense", "name": "hidden", "units": hidden}, {"type": "tanh"},
                                        {"type": "dense", "name": "out", "units": draw(st.integers(1, 3))}])


UPDATE_STEPS = 3  # parameters are compared after at most this many steps (the first-order bound's range)
SCHEDULE_STEPS = 8  # schedules run longer: the learning rate is compared at every step


def _training_problem(draw, construct: str, fields: Doc, steps: int = UPDATE_STEPS, edge: str | None = None):
    """A `Case` training the small two-layer model with `fields` (optimizer, schedule, clipping, ...)."""
    from lockstep.conformance.cases import Case

    batch = draw(st.integers(1, 5))
    model = _training_model(draw, f"case-{construct}")
    if edge == "tiny_shape":
        batch = 1
    return Case(construct, model, fields, seed=draw(seeds), batch=batch, steps=steps, edges=(edge,) if edge else ())


def _sgd(draw) -> Doc:
    """SGD whose learning rate acts at once (lr outside the buffer), with or without momentum."""
    return {"type": "sgd", "learning_rate": 0.1, "momentum": draw(st.sampled_from([0.0, 0.9]))}


@st.composite
def optimizer_problem(draw, construct: str):
    edge = edges.pick(draw, edges.TRAINING_EDGES["optimizer"])
    return _training_problem(draw, construct, {"optimizer": draw(optimizer_case(construct))}, edge=edge)


@st.composite
def schedule_problem(draw, construct: str):
    edge = edges.pick(draw, edges.TRAINING_EDGES["schedule"])
    sched = draw(schedule_case(construct))
    if edge == "boundary":
        _boundary(draw, sched, construct)
    fields = {"optimizer": _sgd(draw), "schedule": sched}
    return _training_problem(draw, construct, fields, SCHEDULE_STEPS, edge)


def _boundary(draw, sched: Doc, construct: str) -> None:
    """Boundaries inside the SCHEDULE_STEPS compared: a warm-up ending at the first or the last steps (or not
    before the run ends), start factors 0 and 1, a decay ending exactly at a compared step."""
    if construct == "warmup" or draw(st.booleans()):
        # the validator refuses a warm-up that does not end before training, and a decaying schedule that never
        # decays after it: a constant schedule's warm-up leaves one step, a decaying one's two
        last = SCHEDULE_STEPS - 1 if sched["type"] == "constant" else SCHEDULE_STEPS - 2
        sched["warmup"] = {"steps": draw(st.sampled_from(sorted({1, last - 1, last}))),
                           "start_factor": draw(st.sampled_from([0.0, 1.0]))}
    else:
        sched.pop("warmup", None)
    left = SCHEDULE_STEPS - sched.get("warmup", {}).get("steps", 0)
    if sched["type"] == "cosine":
        sched["decay_steps"] = draw(st.sampled_from(sorted({1, max(left - 1, 1)})))
    elif sched["type"] == "step":
        sched["step_size"] = draw(st.sampled_from(sorted({1, max(left - 1, 1)})))


@st.composite
def clipping_problem(draw, construct: str):
    edge = edges.pick(draw, edges.TRAINING_EDGES["clipping"], edges.CLIPPING_EDGE_SHARE)
    case = _training_problem(draw, construct, {"optimizer": _sgd(draw),
                                               "gradient_clipping": draw(clipping_case(construct))}, edge=edge)
    if edge == "threshold":
        case = replace(case, recipe={**case.recipe, "gradient_clipping": _at_threshold(draw, case)})
    elif edge == "overflow_norm":  # MAE: the loss stays moderate while the gradients grow with the inputs
        case = replace(case, recipe={**case.recipe, "loss": {"type": "mae"}})
    return case


def _at_threshold(draw, case) -> Doc:
    """The case's clipping with its threshold exactly at the first step's gradient: max_norm = ‖g‖ (float64),
    or clip_value = one of the |g| (the largest, or one inside the range, so some entries sit on it)."""
    import numpy as np

    from lockstep.reference import losses
    from lockstep.reference.model import ReferenceModel
    from lockstep.spec.documents import Model
    from lockstep.spec.losses import MSE

    weights, x, y = case.arrays()
    net = ReferenceModel(Model.model_validate(case.model))
    out = net.forward(x, weights, dict(weights), training=True)
    _, g = losses.compute(MSE(type="mse"), out, y)
    grads = np.concatenate([v.ravel() for v in net.backward(g).values()])
    clip = dict(case.recipe["gradient_clipping"])
    if clip["type"] == "global_norm":
        norm = float(np.sqrt(np.sum(grads * grads)))
        if norm > 0:
            clip["max_norm"] = norm
    else:
        nonzero = np.sort(np.abs(grads[grads != 0]))
        if nonzero.size:
            clip["clip_value"] = float(nonzero[draw(st.integers(0, nonzero.size - 1))])
    return clip


@st.composite
def regularization_problem(draw, construct: str):
    edge = edges.pick(draw, edges.TRAINING_EDGES["regularization"])
    opt = draw(st.sampled_from(["sgd", "adam"]))  # coupled L2 inside Adam is where frameworks differ
    return _training_problem(draw, construct, {"optimizer": draw(optimizer_case(opt)),
                                               "regularization": REGULARIZATION_CASES[construct](draw)}, edge=edge)


# ---------------------------------------------------------------------------------- random models
# Bugs that live between constructs (a loss's strided gradient into a batch norm, a layout change before
# flatten, a recurrent layer after a conv) need models of several layers: `random_model_problem` grows a
# chain from a grammar of what each per-sample rank accepts, keeps a layer only when the standard's own
# shape inference (spec.graph) accepts it, then adds a head and draws any loss with matching targets.
_ACTIVATIONS = ["relu", "tanh", "gelu", "silu", "sigmoid", "elu", "leaky_relu"]
_BY_RANK: dict[int, list[str]] = {
    1: ["dense", "layer_norm", "batch_norm", "dropout", *_ACTIVATIONS],
    2: ["conv1d", "batch_norm", "layer_norm", "dense", "lstm", "gru", "multi_head_attention", "dropout",
        "global_avg_pool", "flatten", *_ACTIVATIONS],
    3: ["conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "dropout", "global_avg_pool", "flatten",
        *_ACTIVATIONS],
}


def _random_layer(draw, kind: str, shape: list[int]) -> Doc:
    layer: Doc = {"type": kind}
    if kind == "dense":
        layer["units"] = draw(st.integers(1, 5))
    elif kind in ("conv1d", "conv2d"):
        layer.update(filters=draw(st.integers(1, 4)), kernel_size=draw(st.integers(1, 2)),
                     stride=draw(st.integers(1, 2)), padding=draw(st.sampled_from(["valid", "same"])))
    elif kind in ("max_pool2d", "avg_pool2d"):
        layer.update(kernel_size=draw(st.integers(1, 2)), padding=draw(st.sampled_from(["valid", "same"])))
    elif kind in ("lstm", "gru"):
        layer.update(units=draw(st.integers(1, 4)), return_sequences=draw(st.booleans()))
    elif kind == "multi_head_attention":
        heads = [h for h in (1, 2, 3) if shape[-1] % h == 0]
        layer.update(num_heads=draw(st.sampled_from(heads)), causal=draw(st.booleans()))
    elif kind == "layer_norm":
        layer["dims"] = draw(st.integers(1, len(shape)))
    elif kind == "batch_norm":
        layer["momentum"] = draw(st.sampled_from([0.1, 0.5]))
    elif kind == "dropout":
        layer["rate"] = draw(st.sampled_from([0.0, 0.25]))
    elif kind == "leaky_relu":
        layer["negative_slope"] = 0.2
    return layer


def _output_shape(doc: Doc) -> list[int] | None:
    from lockstep.spec.documents import Model
    from lockstep.spec.graph import build_graph

    try:
        graph = build_graph(Model.model_validate(doc))
    except Exception:
        return None
    if graph.problems:
        return None
    return list(graph.output_shapes()[0])


@st.composite
def random_model_problem(draw, construct: str = "random_model", allowed: frozenset[str] | None = None):
    """A chain of 2-5 layers over [F], [C, L] or [C, H, W] inputs, a dense head, and any loss; with `allowed`,
    only those layer types and losses (what the adapter under test supports; dense is always used)."""
    from lockstep.conformance.cases import Case, batch_norm_can_train

    def ok(kind: str) -> bool:
        return allowed is None or kind in allowed

    rank = draw(st.sampled_from([r for r in (1, 2, 3) if any(ok(k) for k in _BY_RANK[r])] or [1]))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    if rank == 3:
        shape[1], shape[2] = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    doc = model_doc("random-model", shape, [])
    out = list(shape)
    for i in range(draw(st.integers(2, 5))):
        kinds = [k for k in _BY_RANK[min(len(out), 3)] if ok(k)]
        if not kinds:
            break
        kind = draw(st.sampled_from(kinds))
        layer = {**_random_layer(draw, kind, out), "name": f"l{i}"}
        grown = _output_shape({**doc, "layers": [*doc["layers"], layer]})
        if grown is not None and len(grown) <= 3 and all(d >= 1 for d in grown):
            doc["layers"].append(layer)
            out = grown
    if not doc["layers"]:
        doc["layers"].append({"type": "dense", "name": "l0", "units": 2})
    kind = draw(st.sampled_from([k for k in LOSSES if ok(k) and all(ok(h["type"]) for h in HEADS.get(k, []))]
                                or ["mse"]))
    classes = draw(st.integers(2, 4))
    loss = draw(loss_case(kind, classes))
    if not ok(HEADS.get(kind, [{"type": "dense"}])[0]["type"]):
        loss["from_logits"] = True  # the probability head is not supported: the loss reads logits
    doc["layers"].append({"type": "dense", "name": "head", "units": classes})
    if not loss.get("from_logits", False):
        doc["layers"] += [dict(h) for h in HEADS.get(kind, [])]
    case = Case(construct, doc, {"loss": loss}, seed=draw(seeds), batch=draw(st.integers(2, 4)),
                targets=LOSS_TARGETS.get(kind, "regression"))
    if not batch_norm_can_train(case):
        case = Case(construct, doc, {"loss": loss}, seed=case.seed, batch=case.batch + 2, targets=case.targets)
    return case
