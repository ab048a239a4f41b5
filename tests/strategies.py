"""Hypothesis strategies for whole valid documents (Model, Recipe, Environment) and helpers to mutate them.

Models come from the conformance suite's strategies (shapes agree by construction); this file adds the
documents around them: recipes whose data and loss fit the model, environments, and metadata with
awkward strings (`yes`, `1e5`, `<<`, unicode) that the loader and dumper must carry unchanged.
"""

from __future__ import annotations

import typing
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from lockstep.conformance import strategies as cs
from lockstep.spec.documents import KINDS

API = "lockstep/v1"
Doc = dict[str, Any]

# strings that YAML 1.1 or 1.2 would read as something else if written plain
TRICKY = ["yes", "no", "on", "off", "1e5", "0o17", "010", "1:20", "null", "~", "true", "<<", ".inf", "0x1F",
          "-", "a: b", "#x", "'q'", '"dq"', "é", "日本", "", " lead", "trail ", "multi\nline"]
text = st.one_of(st.sampled_from(TRICKY), st.text(max_size=20))
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,12}", fullmatch=True)


@st.composite
def metadata(draw) -> Doc:
    meta: Doc = {"name": draw(names)}
    if draw(st.booleans()):
        meta["description"] = draw(text)
    if draw(st.booleans()):
        meta["labels"] = draw(st.dictionaries(text, text, max_size=3))
    return meta


@st.composite
def model_documents(draw) -> Doc:
    doc = draw(st.one_of(st.sampled_from(cs.LAYERS).flatmap(cs.layer_model), cs.sequence_model(),
                         cs.graph_model()))
    doc["metadata"] = draw(metadata())
    return doc


@st.composite
def recipe_documents(draw) -> Doc:
    model = draw(cs.sequence_model())
    features = model["inputs"][0]["shape"]
    outputs = model["layers"][-1]["units"]
    if outputs >= 2 and draw(st.booleans()):
        source = {"type": "synthetic_classification", "num_samples": draw(st.integers(32, 64)), "shape": features,
                  "num_classes": outputs}
        loss = {"type": "sparse_categorical_crossentropy", "from_logits": True,
                "label_smoothing": draw(st.sampled_from([0.0, 0.1]))}
        metrics = ["loss", "accuracy"]
    else:
        source = {"type": "synthetic_regression", "num_samples": draw(st.integers(32, 64)), "shape": features,
                  "targets": outputs}
        loss = draw(st.sampled_from(["mse", "mae", "huber"]).flatmap(lambda k: cs.loss_case(k, outputs)))
        metrics = ["loss", "mse"]
    recipe: Doc = {
        "apiVersion": API, "kind": "Recipe", "metadata": draw(metadata()),
        "model": model, "seed": draw(st.integers(0, 2**31)),
        "dtype": draw(st.sampled_from(["float32", "float64"])),
        "data": {"source": source, "batch_size": draw(st.integers(2, 16))},
        "loss": loss,
        "optimizer": draw(st.sampled_from(cs.OPTIMIZERS).flatmap(cs.optimizer_case)),
        "schedule": draw(st.sampled_from(["constant", "step", "exponential"]).flatmap(cs.schedule_case)),
        "training": {"steps": draw(st.integers(10, 50))},
    }
    if any(layer["type"] == "batch_norm" for layer in model["layers"]):
        recipe["data"]["drop_last"] = True  # a last batch of one sample has no batch statistics
    if draw(st.booleans()):
        recipe["data"]["split"] = {"validation": draw(st.sampled_from([0.0, 0.25]))}
        recipe["data"]["preprocessing"] = [{"type": "standardize"}]
    if draw(st.booleans()):
        recipe["gradient_clipping"] = draw(st.sampled_from(cs.CLIPPING).flatmap(cs.clipping_case))
    if draw(st.booleans()):
        recipe["regularization"] = {"l2": draw(st.sampled_from([0.0, 1e-4]))}
        recipe["evaluation"] = {"every": draw(st.integers(1, 10)), "metrics": metrics}
        recipe["checkpoint"] = {"every": draw(st.integers(1, 10)), "keep": draw(st.integers(1, 3))}
    return recipe


@st.composite
def environment_documents(draw) -> Doc:
    env: Doc = {
        "apiVersion": API, "kind": "Environment", "metadata": draw(metadata()),
        "runtime": draw(st.sampled_from(["onnxruntime", "torch", "tensorflow"])),
        "tolerance": {"rtol": draw(st.sampled_from([1e-5, 1e-3])), "atol": draw(st.sampled_from([0.0, 1e-6]))},
    }
    if draw(st.booleans()):
        gpu = ["gpu", "gpu:0"] if env["runtime"] == "tensorflow" else ["cuda", "cuda:1"]  # each runtime's name
        env.update(device=draw(st.sampled_from(["cpu", *gpu])),
                   dtype=draw(st.sampled_from(["float32", "float64"])),
                   batch_sizes=draw(st.lists(st.integers(1, 64), min_size=1, max_size=3)),
                   opset=draw(st.integers(13, 23)), threads=draw(st.integers(1, 8)),
                   requirements={"onnxruntime": ">=1.17"},
                   latency_budget={"batch_size": 1, "p99_ms": draw(st.sampled_from([1.0, 5.5]))})
        env["batch_sizes"][0] = 1  # the latency budget's batch size must be one of them
    return env


documents = st.one_of(model_documents(), recipe_documents(), environment_documents())


# ------------------------------------------------------------------------------------------ helpers
def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into `data` (mapping keys and list indexes), parents before children."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((*prefix, k))
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append((*prefix, i))
            out += paths(v, (*prefix, i))
    return out


def get(data: Any, path: tuple) -> Any:
    for p in path:
        data = data[p]
    return data


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return [m for a in typing.get_args(annotation) for m in _members(a) if m is not type(None)]
    return [annotation]


def model_class_at(data: Doc, path: tuple) -> type[BaseModel] | None:
    """The pydantic class that validates the mapping at `path` of a document (None for free-form
    mappings such as `labels`), found by following the data, independently of the validator."""
    annotation: Any = KINDS[data["kind"]]
    node: Any = data
    for part in path:
        choice = _select(_members(annotation), node)
        node = node[part]
        if isinstance(choice, type) and issubclass(choice, BaseModel):
            if choice.__name__ == "Recipe" and part == "model":
                annotation = KINDS["Model"]  # an inline model is a Model document
                continue
            field = choice.model_fields.get(part)
            annotation = field.annotation if field is not None else None
        else:
            args = typing.get_args(choice)
            origin = typing.get_origin(choice)
            annotation = args[0] if origin is list else args[1] if origin is dict else None
    choice = _select(_members(annotation), node)
    return choice if isinstance(choice, type) and issubclass(choice, BaseModel) else None


def _select(members: list[Any], node: Any) -> Any:
    for m in members:
        if isinstance(m, type) and issubclass(m, BaseModel):
            for disc in ("type", "kind"):
                f = m.model_fields.get(disc)
                if f is not None and isinstance(node, dict) and node.get(disc) in typing.get_args(f.annotation):
                    return m
            if not any(d in m.model_fields for d in ("type", "kind")) or m.__name__ in KINDS:
                return m
        elif typing.get_origin(m) in (list, dict) and isinstance(node, typing.get_origin(m)):
            return m
    return members[0] if len(members) == 1 else None
