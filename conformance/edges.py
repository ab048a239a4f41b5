"""Edge classes: the corners where frameworks break, reached on purpose by the conformance strategies.

Plain N(0, 1) inputs and N(0, 0.25) parameters never land on a kink, never tie in a max-pool window, never
saturate a sigmoid to exactly 1, never feed a softmax logits in the hundreds, and keep every width below the
sizes where kernels switch blocking. Each strategy in conformance/strategies.py therefore steers a share
(`EDGE_SHARE`) of its cases into one of the edge classes its construct has (`LAYER_EDGES`, `LOSS_EDGES`, ...):
the class is drawn by hypothesis (so it is deterministic under the seed and shrinks towards *no* edge), it is
recorded in `Case.edges`, and the arrays of the case are made by `apply` below from the case's seed.

Structural classes (`tiny_shape`, `blocking`, `boundary`, `threshold`) change the drawn documents; the array
classes (`kink`, `saturated`, `offset`, `magnitude`, `constant`, `zero_grad`) change the arrays `Case.arrays`
derives from the seed. Where the standard's value at an edge is a choice (relu'(0), a max-pool tie, mae'(0),
huber at ±δ, 0·log 0), docs/spec/v1-semantics.md states it and the reference does it.

Exactness: the `kink` class puts inputs, parameters and targets on a coarse dyadic lattice (multiples of 1/2,
small), so every sum of products a dense layer forms is exact in float32 too: a value at a kink, or a tie, is
the same exact value in every backend and no rounding can move it across (which is why first-order bounds
can judge it). `python -m lockstep.conformance.edges` counts how many generated cases land in each class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lockstep.conformance.cases import Case

EDGE_SHARE = 0.4
"""The probability that a drawn case is steered into an edge class (when its construct has any)."""

CLASSES: dict[str, str] = {
    "kink": "inputs, parameters and targets on a dyadic lattice: values exactly at kinks (relu/leaky_relu/elu at 0, "
            "mae at 0, huber at ±δ) and exact max-pool ties, exact in float32",
    "saturated": "logits of ±20…±1000: sigmoid/softmax outputs exactly 0 and 1 in the dtype, targets of weight 0 "
                 "on the saturated side (0·log 0)",
    "unnormalized": "soft target rows that do not sum to 1 (an all-zero row, rows scaled by ½ or 1.6): the "
                    "standard never renormalizes, and a gradient taken as softmax(y) - t is right only for sums of 1",
    "offset": "logits with a large common offset (±100…±700) and spread: softmax, log_softmax, attention scores",
    "magnitude": "inputs (and regression targets) near the dtype's limits: ×max^¼ or ×tiny^¼",
    "constant": "inputs constant over the normalized axes: zero variance (x̂ from ε alone)",
    "tiny_shape": "length-1 sequences, 1×1 feature maps, one-element axes, batch 1",
    "blocking": "an inner size that crosses kernel blocking thresholds (7, 8, 9, 16, 17, 64, 65, 129)",
    "zero_grad": "an input feature that is 0 in every sample: gradients exactly 0 (optimizer state at 0/ε)",
    "threshold": "clipping exactly at its threshold (max_norm = ‖g‖, clip_value = a |g| of the first step)",
    "overflow_norm": "gradients whose sum of squares overflows the dtype while ‖g‖ does not (inputs ×2^70 into a "
                     "first layer whose weights are ×2^-70, MAE loss: |g| ~ 2^70, ‖g‖ > 2^64; ×2^520 in float64)",
    "boundary": "schedule boundaries inside the steps run: warm-up ending at the last steps, decay ends, "
                "start factor 0 or 1",
}

BLOCK_SIZES = (7, 8, 9, 16, 17, 64, 65, 129)
"""Inner sizes on both sides of common SIMD/GEMM blocking thresholds (8, 16, 64, 128)."""

_ACT_KINKS = ("relu", "leaky_relu", "elu")
LAYER_EDGES: dict[str, tuple[str, ...]] = {
    **{k: ("kink", "magnitude", "tiny_shape") for k in _ACT_KINKS},
    "max_pool2d": ("kink", "magnitude", "tiny_shape"),
    "avg_pool2d": ("magnitude", "tiny_shape"),
    "global_avg_pool": ("magnitude", "tiny_shape"),
    "sigmoid": ("saturated", "magnitude", "tiny_shape"),
    "tanh": ("saturated", "magnitude", "tiny_shape"),
    "softmax": ("saturated", "offset", "magnitude", "tiny_shape"),
    "log_softmax": ("saturated", "offset", "magnitude", "tiny_shape"),
    "gelu": ("magnitude", "tiny_shape"),
    "silu": ("magnitude", "tiny_shape"),
    "dense": ("blocking", "kink", "magnitude", "tiny_shape"),
    "conv1d": ("blocking", "magnitude", "tiny_shape"),
    "conv2d": ("blocking", "magnitude", "tiny_shape"),
    "lstm": ("blocking", "magnitude", "tiny_shape"),
    "gru": ("blocking", "magnitude", "tiny_shape"),
    "multi_head_attention": ("blocking", "offset", "magnitude", "tiny_shape"),
    "batch_norm": ("constant", "magnitude", "tiny_shape"),
    "layer_norm": ("constant", "magnitude", "tiny_shape"),
    "rms_norm": ("constant", "magnitude", "tiny_shape"),
    "positional_embedding": ("magnitude", "tiny_shape"),
    "embedding": ("tiny_shape",),
    "dropout": ("magnitude", "tiny_shape"),
    "flatten": ("tiny_shape",),
    "reshape": ("tiny_shape",),
    "add": ("magnitude",),
    "multiply": ("magnitude",),
    "concat": ("magnitude",),
}
LOSS_EDGES: dict[str, tuple[str, ...]] = {
    "mse": ("magnitude", "tiny_shape"),
    "mae": ("kink", "magnitude", "tiny_shape"),
    "huber": ("kink", "magnitude", "tiny_shape"),
    "binary_crossentropy": ("saturated", "tiny_shape"),
    "categorical_crossentropy": ("saturated", "unnormalized", "tiny_shape"),
    "sparse_categorical_crossentropy": ("saturated", "tiny_shape"),
    "nll": ("saturated", "tiny_shape"),
}
TRAINING_EDGES: dict[str, tuple[str, ...]] = {  # optimizers, clipping, regularization (level 3)
    "optimizer": ("zero_grad", "tiny_shape"),
    "clipping": ("threshold", "zero_grad", "overflow_norm"),
    "regularization": ("zero_grad",),
    "schedule": ("boundary",),
}
"""Per kind of training construct, its edge classes. Level 3 runs several steps, so no class there moves values
toward the dtype's limits (a first step's update would carry them out of range), except `overflow_norm`, whose
huge gradients the clipping itself bounds before they reach the parameters."""

CLIPPING_EDGE_SHARE = 0.6
"""Clipping's share: its three classes are each a corner of the one rule a check covers (a threshold met
exactly, zero gradients, a norm whose sum of squares overflows), and each should come up in a default run."""

OVERFLOW_NORM_SCALE = {"float32": 2.0 ** 70, "float64": 2.0 ** 520}
"""`overflow_norm`'s scale per dtype: gradients of about this size have a sum of squares beyond the dtype
(above 2^128 and 2^1024) and a norm well inside it."""


def pick(draw: Any, classes: tuple[str, ...], share: float = EDGE_SHARE) -> str | None:
    """An edge class with probability `share`, else None. Drawn so that hypothesis shrinks towards None."""
    from hypothesis import strategies as st

    if not classes or draw(st.integers(0, 99)) < 100 - round(100 * share):
        return None
    return draw(st.sampled_from(classes))


# ------------------------------------------------------------------------------------------- arrays
def lattice(rng: np.random.Generator, shape: tuple[int, ...], top: int) -> np.ndarray:
    """Multiples of 1/2 in [-top/2, top/2]: small dyadic values whose sums of products are exact in float32."""
    return rng.integers(-top, top + 1, size=shape) * 0.5


def limit_scale(dtype: str, large: bool) -> float:
    """max^¼ or tiny^¼ of the dtype (a power of two): a product of two such values, a square, stays in range."""
    info = np.finfo(np.float32 if dtype == "float32" else np.float64)
    v = float(info.max) ** 0.25 / 4 if large else float(info.tiny) ** 0.25
    return float(2.0 ** np.round(np.log2(v)))


def apply(case: Case, rng: np.random.Generator, graph: Any, weights: dict[str, np.ndarray], x: np.ndarray,
          y: np.ndarray, dtype: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The case's arrays moved into its array edge class (structural classes leave them as drawn)."""
    edge = case.edges[0] if case.edges else None
    integer_input = x.dtype.kind in "iu"
    if edge == "kink":
        weights = {k: lattice(rng, v.shape, 2) if k in graph.parameters() else v for k, v in weights.items()}
        if not integer_input:
            x = lattice(rng, x.shape, 4)
        if case.targets == "regression":
            y = lattice(rng, y.shape, 4)
        weights = _probe_at_kink(case, rng, weights)
    elif edge == "magnitude" and not integer_input:
        s = limit_scale(dtype, large=bool(rng.integers(0, 2)))
        x = x * s
        if case.targets == "regression":
            y = y * s
    elif edge == "offset" and not integer_input:
        spread = float(rng.choice([1.0, 30.0, 100.0]))
        x = x * spread + float(rng.choice([-1.0, 1.0])) * float(rng.choice([100.0, 300.0, 700.0]))
    elif edge == "saturated":
        if any(nd.type in ("dense", "conv1d", "conv2d") for nd in graph.nodes):  # the logits' scale
            s = float(rng.choice([20.0, 100.0, 1000.0]))
            weights = {k: v * s / case.param_scale if k in graph.parameters() else v for k, v in weights.items()}
        elif not integer_input:
            x = x * float(rng.choice([20.0, 100.0, 1000.0]))
        y = _saturated_targets(case, graph, weights, x, y)
    elif edge == "unnormalized" and case.targets == "probabilities":
        y = _unnormalized_targets(rng, y)
    elif edge == "constant" and not integer_input:
        x = np.broadcast_to(x.reshape(x.shape[0], -1)[:, :1].reshape((x.shape[0],) + (1,) * (x.ndim - 1)),
                            x.shape).copy()
    elif edge == "overflow_norm" and not integer_input:
        s = OVERFLOW_NORM_SCALE[dtype]  # a power of two: the first layer's pre-activations are the unscaled ones
        first = next((f"{nd.name}.weight" for nd in graph.nodes if f"{nd.name}.weight" in weights), None)
        if first is not None:
            x = x * s
            weights = {**weights, first: weights[first] / s}
    elif edge == "zero_grad" and not integer_input:
        x = x.copy()
        x[..., int(rng.integers(0, x.shape[-1]))] = 0.0
    return weights, x, y


def _probe_at_kink(case: Case, rng: np.random.Generator, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The dense probe in front of a kink (strategies.edge_layer_model) puts one output unit exactly on it for
    every sample: a zero column (relu, leaky_relu, elu at 0), or, before a max-pool, a copy of its neighbour
    column (two equal positions in a window: a tie)."""
    if "probe.weight" not in weights:
        return weights
    w = weights["probe.weight"].copy()
    b = weights.get("probe.bias")
    b = None if b is None else b.copy()
    j = int(rng.integers(0, w.shape[1]))
    if case.construct == "max_pool2d":
        if w.shape[1] < 2:
            return weights
        k = j + 1 if j + 1 < w.shape[1] else j - 1
        w[:, k] = w[:, j]
        if b is not None:
            b[k] = b[j]
    else:
        w[:, j] = 0.0
        if b is not None:
            b[j] = 0.0
    out = {**weights, "probe.weight": w}
    if b is not None:
        out["probe.bias"] = b
    return out


def _unnormalized_targets(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    """Probability rows scaled so that their sums are not 1: the first row all zeros (a padded position), the others
    ×0, ×½, ×1 or ×1.6 (capped at 1: targets stay in [0, 1]). Powers of two and 1.6 keep the rows exact enough;
    the sums are what matters."""
    rows = y.reshape(-1, y.shape[-1])
    scale = rng.choice([0.0, 0.5, 1.0, 1.6], size=(rows.shape[0], 1))
    scale[0] = 0.0
    return np.minimum(rows * scale, 1.0).reshape(y.shape)


def _saturated_targets(case: Case, graph: Any, weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
                       ) -> np.ndarray:
    """Targets of weight 0 where the output saturates: the class the logits pick (binary: the side of 0)."""
    from lockstep.reference.model import ReferenceModel
    from lockstep.spec.documents import Model

    if case.targets not in ("binary", "probabilities", "classes"):
        return y
    with np.errstate(all="ignore"):
        out = np.asarray(ReferenceModel(Model.model_validate(case.model)).forward(x, weights, dict(weights)))
    last = graph.nodes[-1].type
    if case.targets == "binary":
        return (out > (0.5 if last == "sigmoid" else 0.0)).astype(np.float64)
    cls = out.argmax(axis=-1)
    if case.targets == "classes":
        return cls
    return np.eye(out.shape[-1])[cls]


# ------------------------------------------------------------------------------------------- census
def reached(case: Case, dtype: str = "float32") -> dict[str, bool]:
    """Which edges the case's arrays actually reach, measured on the reference's forward in float64 with the
    values cast to `dtype`: an exact kink value (0 into relu/leaky_relu/elu, mae's d = 0, huber's |d| = δ), a
    max-pool tie, a probability exactly 0 or 1, a target of weight 0 against it, |logit| ≥ 100, a
    target row of probabilities whose sum is not 1."""
    from lockstep.reference.model import ReferenceModel
    from lockstep.spec.documents import Model

    weights, x, y = case.arrays(dtype)
    net = ReferenceModel(Model.model_validate(case.model))
    kind = np.float32 if dtype == "float32" else np.float64
    with np.errstate(all="ignore"):
        values = net.forward_with_intermediates(x, weights, {k: v.copy() for k, v in weights.items()})
        out = np.asarray(net.forward(x, weights, {k: v.copy() for k, v in weights.items()}))
    inputs = {"x": np.asarray(x, dtype=np.float64), **values}
    got = {"kink": False, "tie": False, "saturated": False, "zero_weight": False, "large_logits": False,
           "unnormalized": case.targets == "probabilities" and bool(np.any(np.abs(np.sum(
               np.asarray(y, dtype=np.float64), axis=-1) - 1) > 1e-6)),
           "overflow_norm": "overflow_norm" in case.edges and _sum_of_squares_overflows(case, net, weights, x, y, kind)}
    for nd in net.graph.nodes:
        a = np.asarray(inputs[nd.inputs[0]], dtype=np.float64).astype(kind)
        if nd.type in _ACT_KINKS and np.any(a == 0):
            got["kink"] = True
        if nd.type == "max_pool2d":
            got["tie"] = got["tie"] or _has_tie(nd, a)
        if nd.type in ("sigmoid", "softmax"):
            p = np.asarray(values[nd.name]).astype(kind)
            got["saturated"] = got["saturated"] or bool(np.any((p == 0) | (p == 1)))
        if nd.type in ("softmax", "log_softmax", "sigmoid") and np.max(np.abs(a), initial=0.0) >= 100:
            got["large_logits"] = True
    loss = case.recipe.get("loss", {})
    d = out.astype(kind).astype(np.float64) - (y if np.shape(y) == out.shape else np.reshape(y, out.shape)) \
        if case.targets == "regression" else None
    if d is not None and loss.get("type") == "mae" and np.any(d == 0):
        got["kink"] = True
    if d is not None and loss.get("type") == "huber" and np.any(np.abs(d) == loss.get("delta", 1.0)):
        got["kink"] = True
    if loss.get("type") in ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                            "nll"):
        if loss.get("from_logits") and np.max(np.abs(out), initial=0.0) >= 100:
            got["large_logits"] = True
        if not loss.get("from_logits") and loss.get("type") in ("binary_crossentropy", "categorical_crossentropy"):
            p = out.astype(kind)
            t = np.asarray(y, dtype=np.float64).reshape(p.shape)
            zero_weight = ((p == 0) & (t == 0)) | ((p == 1) & (t == 1)) if loss["type"] == "binary_crossentropy" \
                else (p == 0) & (t == 0)
            got["zero_weight"] = bool(np.any(zero_weight)) and not loss.get("label_smoothing", 0.0)
    return got


def _sum_of_squares_overflows(case: Case, net: Any, weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                              kind: type) -> bool:
    """Whether the first step's gradients, each finite in `kind`, have a sum of squares beyond it (‖g‖ not)."""
    from lockstep.reference import losses
    from lockstep.spec.documents import Recipe

    recipe = Recipe.model_validate(case.documents("float64")[1] | {"model": case.model})
    with np.errstate(all="ignore"):
        out = net.forward(x, weights, {k: v.copy() for k, v in weights.items()}, training=True)
        _, g = losses.compute(recipe.loss, out, y)
        grads = [np.asarray(v).astype(kind) for v in net.backward(g).values()]
        finite = all(np.all(np.isfinite(v)) for v in grads)
        squares = sum(np.sum(np.square(v)) for v in grads)
    return bool(finite and not np.isfinite(squares))


def _has_tie(nd: Any, x: np.ndarray) -> bool:
    from lockstep.reference.layers._conv import pad, windows

    kernel, stride, pads = nd.layer.geometry(x.shape[1:])
    out = nd.layer.output_shape([x.shape[1:]])[1:]
    flat = windows(pad(x.astype(np.float64), pads, -np.inf), kernel, stride, (1, 1), out)
    flat = flat.reshape(*x.shape[:2], *out, -1)
    top = flat.max(axis=-1, keepdims=True)
    return bool(np.any(np.sum(flat == top, axis=-1) > 1))


def census(examples: int | None = None, seed: int | None = None, dtype: str = "float32"
           ) -> list[tuple[str, int, dict[str, int], dict[str, int]]]:
    """The cases a default certification draws for every generated check of `dtype` on the CPU (same strategies,
    check seeds (`suite.check_seed`) and number of examples; hypothesis's draws do not depend on the outcome of a
    passing case): per check, (construct, cases, count per edge class drawn, count per edge reached by the
    arrays in `dtype`)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    from lockstep.conformance import suite

    examples = suite.DEFAULT_EXAMPLES if examples is None else examples
    seed = suite.DEFAULT_SEED if seed is None else seed
    rows = []
    for spec in suite.SPECS:
        if spec.levels == (5,):
            continue
        drawn: list[Any] = []

        def record(case: Any) -> None:
            drawn.append(case)  # noqa: B023 - called before the loop moves on

        strategy = spec.strategy(spec.construct, None) if spec.construct in suite.COMPOSITES \
            else spec.strategy(spec.construct)
        with suite.seeded_draws():  # as a check draws them
            hypothesis_seed(suite.check_seed(seed, spec.construct, dtype, "cpu"))(settings(
                max_examples=examples, database=None, deadline=None, derandomize=False, print_blob=False,
                verbosity=Verbosity.quiet, phases=[Phase.generate], suppress_health_check=list(HealthCheck))(
                given(strategy)(record)))()
        classes: dict[str, int] = {}
        hits: dict[str, int] = {}
        for case in drawn:
            for e in case.edges:
                classes[e] = classes.get(e, 0) + 1
            for k, v in reached(case, dtype).items():
                hits[k] = hits.get(k, 0) + int(v)
        rows.append((spec.construct, len(drawn), classes, hits))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the census as a Markdown table (docs/conformance.md, "Edge classes")."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lockstep.conformance.edges", description=main.__doc__)
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    if (args.examples is not None and args.examples < 1) or (args.seed is not None and args.seed < 0):
        parser.error("--examples must be at least 1 and --seed not negative")
    rows = census(args.examples, args.seed, args.dtype)
    names = list(CLASSES)
    reach = ["kink", "tie", "saturated", "zero_weight", "large_logits", "unnormalized", "overflow_norm"]
    print("| check | cases | " + " | ".join(names) + " | reached: " + " | ".join(reach) + " |")
    print("| --- " * (2 + len(names) + len(reach)) + "|")
    total = {k: 0 for k in names}
    treach = {k: 0 for k in reach}
    n = 0
    for construct, cases, classes, hits in rows:
        n += cases
        for k in names:
            total[k] += classes.get(k, 0)
        for k in reach:
            treach[k] += hits.get(k, 0)
        print(f"| {construct} | {cases} | " + " | ".join(str(classes.get(k, 0) or "") for k in names) + " | "
              + " | ".join(str(hits.get(k, 0) or "") for k in reach) + " |")
    edged = sum(total.values())
    print(f"| **all** | {n} | " + " | ".join(str(total[k]) for k in names) + " | "
          + " | ".join(str(treach[k]) for k in reach) + " |")
    print(f"\n{edged} of {n} generated cases ({100 * edged / max(n, 1):.0f}%) are steered into an edge class "
          f"(EDGE_SHARE = {EDGE_SHARE} where a construct has edges); `reached` counts the cases whose {args.dtype} "
          "arrays contain the edge value itself.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
