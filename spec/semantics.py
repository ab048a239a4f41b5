"""Semantic checks beyond the schema: shapes through the model, graph structure, references between
documents, and hyper-parameter combinations. Each problem is located at the field it concerns."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from lockstep.spec.diagnostics import Diagnostic, SpecError, format_path
from lockstep.spec.documents import Environment, Model, Recipe
from lockstep.spec.graph import ModelGraph, build_graph
from lockstep.spec.loader import LoadedDocument

_SPECIFIER = re.compile(r"^\s*(~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9_.*+!-]+\s*$")

DIGITS_SHAPES = {"flat": (64,), "image": (1, 8, 8)}


def _diag(doc: LoadedDocument, path: tuple, message: str, suggestion: str | None = None,
          code: str = "semantic", expected: str | None = None) -> Diagnostic:
    line, col = doc.locate(path)
    return Diagnostic(doc.file, line, col, format_path(path), message, expected, suggestion, code)


def resolve_path(base_dir: Path, relative: str) -> Path:
    """A path from a spec, resolved inside the spec's folder. Leaving the folder (absolute paths, `..`)
    is refused unless LOCKSTEP_ALLOW_OUTSIDE_PATHS=1: a spec must not read arbitrary files."""
    p = Path(relative)
    full = (p if p.is_absolute() else base_dir / p).resolve()
    if os.environ.get("LOCKSTEP_ALLOW_OUTSIDE_PATHS") != "1":
        root = base_dir.resolve()
        if p.is_absolute() or not full.is_relative_to(root):
            raise ValueError(f"`{relative}` leaves the spec's folder {root}; "
                             "set LOCKSTEP_ALLOW_OUTSIDE_PATHS=1 to allow it")
    return full


def check(document: object, doc: LoadedDocument, *, base_dir: Path) -> list[Diagnostic]:
    if isinstance(document, Model):
        return check_model(document, doc, base_dir=base_dir)
    if isinstance(document, Recipe):
        return check_recipe(document, doc, base_dir=base_dir)
    if isinstance(document, Environment):
        return check_environment(document, doc)
    return []


def check_model(model: Model, doc: LoadedDocument, *, base_dir: Path, prefix: tuple = ()) -> list[Diagnostic]:
    graph = build_graph(model)
    out = [_diag(doc, (*prefix, *p.where), p.message, p.suggestion, code="shape" if "cannot take" in p.message
                 else "graph") for p in graph.problems]
    if model.weights is not None:
        try:
            full = resolve_path(base_dir, model.weights.path)
            if not full.is_file():
                out.append(_diag(doc, (*prefix, "weights", "path"), f"weights file `{model.weights.path}` "
                                 f"does not exist (looked for {full})", code="reference"))
        except ValueError as exc:
            out.append(_diag(doc, (*prefix, "weights", "path"), str(exc), code="path"))
    return out


def load_model(recipe: Recipe, doc: LoadedDocument, base_dir: Path) -> tuple[Model | None, list[Diagnostic]]:
    """The recipe's model (inline, or the document at its relative path), validated."""
    from lockstep.spec.validate import validate_document

    if isinstance(recipe.model, dict):
        sub = LoadedDocument(recipe.model, doc.file, doc.index, *doc.locate(("model",)))
        sub.positions = {k[1:]: v for k, v in doc.positions.items() if k[:1] == ("model",)}
        sub.key_positions = {k[1:]: v for k, v in doc.key_positions.items() if k[:1] == ("model",)}
        obj, diags = validate_document(sub, base_dir=base_dir)
        fixed = [Diagnostic(d.file, d.line, d.column, format_path(("model",)) + ("." + d.path if d.path else ""),
                            d.message, d.expected, d.suggestion, d.code, d.related) for d in diags]
        if obj is not None and not isinstance(obj, Model):
            return None, [_diag(doc, ("model", "kind"), "an inline `model` must be a Model document")]
        return obj, fixed  # type: ignore[return-value]
    try:
        full = resolve_path(base_dir, recipe.model)
    except ValueError as exc:
        return None, [_diag(doc, ("model",), str(exc), code="path")]
    if not full.is_file():
        return None, [_diag(doc, ("model",), f"model file `{recipe.model}` does not exist (looked for {full})",
                            code="reference")]
    from lockstep.spec.loader import load_file

    try:
        docs = load_file(full)
    except SpecError as exc:
        return None, exc.diagnostics
    models = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == "Model"]
    if len(models) != 1:
        return None, [_diag(doc, ("model",), f"`{recipe.model}` must hold exactly one Model document, "
                            f"found {len(models)}", code="reference")]
    obj, diags = validate_document(models[0], base_dir=full.parent)
    return obj, diags  # type: ignore[return-value]


def data_feature_shape(recipe: Recipe) -> tuple[int, ...] | None:
    s = recipe.data.source
    if s.type in ("synthetic_classification", "synthetic_regression"):
        return tuple(s.shape)
    if s.type == "synthetic_sequences":
        return (s.length,) if s.vocab_size else (s.length, s.features)
    if s.type == "dataset":
        return DIGITS_SHAPES[s.shape]
    return None


def num_samples(recipe: Recipe) -> int | None:
    s = recipe.data.source
    if s.type == "dataset":
        return 1797
    return getattr(s, "num_samples", None)


def num_classes(recipe: Recipe) -> int | None:
    s = recipe.data.source
    if s.type == "dataset":
        return 10
    if s.type in ("synthetic_classification", "synthetic_sequences"):
        return s.num_classes
    return None


def check_recipe(recipe: Recipe, doc: LoadedDocument, *, base_dir: Path) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    model, diags = load_model(recipe, doc, base_dir)
    out.extend(diags)
    src = recipe.data.source
    if src.type in ("npz", "csv"):
        try:
            full = resolve_path(base_dir, src.path)
            if not full.is_file():
                out.append(_diag(doc, ("data", "source", "path"), f"data file `{src.path}` does not exist "
                                 f"(looked for {full})", code="reference"))
        except ValueError as exc:
            out.append(_diag(doc, ("data", "source", "path"), str(exc), code="path"))

    n = num_samples(recipe)
    if n is not None:
        n_train = n - math.ceil(n * recipe.data.split.validation)
        if n_train < 1:
            out.append(_diag(doc, ("data", "split", "validation"), "the split leaves no training samples"))
        elif recipe.data.batch_size > n_train and recipe.data.drop_last:
            out.append(_diag(doc, ("data", "batch_size"), f"batch_size {recipe.data.batch_size} exceeds the "
                             f"{n_train} training samples and drop_last is set: no batch would remain"))
    steps = recipe.training.steps
    warm = recipe.schedule.warmup
    if steps is not None:
        if warm is not None and warm.steps >= steps:
            out.append(_diag(doc, ("schedule", "warmup", "steps"), f"warm-up of {warm.steps} steps does not end "
                             f"before training does ({steps} steps)"))
        for key in ("evaluation", "checkpoint"):
            section = getattr(recipe, key)
            if section is not None and section.every is not None and section.every > steps:
                out.append(_diag(doc, (key, "every"), f"every {section.every} steps never happens in a run of "
                                 f"{steps} steps"))
    pre_types = [p.type for p in recipe.data.preprocessing]
    for i, t in enumerate(pre_types):
        if pre_types.count(t) > 1 and pre_types.index(t) != i:
            out.append(_diag(doc, ("data", "preprocessing", i), f"`{t}` appears twice"))
    if "standardize" in pre_types and "min_max" in pre_types:
        out.append(_diag(doc, ("data", "preprocessing"), "use one of `standardize` and `min_max`, not both"))
    if model is not None:
        out.extend(_check_recipe_against_model(recipe, model, doc))
    return out


def _check_recipe_against_model(recipe: Recipe, model: Model, doc: LoadedDocument) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    graph: ModelGraph = build_graph(model)
    if graph.problems:
        return out
    if len(model.inputs) != 1 or len(graph.outputs) != 1:
        out.append(_diag(doc, ("model",), "a recipe trains a model with one input and one output in spec v1"))
        return out
    feat = data_feature_shape(recipe)
    inp = tuple(model.inputs[0].shape)
    if feat is not None and feat != inp:
        out.append(_diag(doc, ("data", "source"), f"the data gives samples of shape {list(feat)} but model input "
                         f"`{model.inputs[0].name}` has shape {list(inp)}"))
    tokens = recipe.data.source.type == "synthetic_sequences" and recipe.data.source.vocab_size
    if model.inputs[0].dtype == "int64" and not tokens:
        out.append(_diag(doc, ("data", "source"), "the model takes integer indices (`dtype: int64`) but the "
                         "data gives floating-point features"))
    out_shape = graph.output_shapes()[0]
    loss = recipe.loss
    classes = num_classes(recipe)
    one_hot = next((p for p in recipe.data.preprocessing if p.type == "one_hot"), None)
    last = out_shape[-1] if out_shape else 1
    if loss.type in ("sparse_categorical_crossentropy", "nll", "categorical_crossentropy"):
        if last < 2:
            out.append(_diag(doc, ("loss", "type"), f"`{loss.type}` needs one output per class (at least 2), but "
                             f"the model's output shape is {list(out_shape)}"))
        elif classes is not None and classes != last:
            out.append(_diag(doc, ("loss", "type"), f"the data has {classes} classes but the model outputs {last} "
                             f"values per sample (shape {list(out_shape)})"))
    if loss.type == "categorical_crossentropy" and one_hot is None and recipe.data.source.type != "npz":
        out.append(_diag(doc, ("loss", "type"), "`categorical_crossentropy` needs one-hot targets: add "
                         "`{type: one_hot, num_classes: N}` to data.preprocessing, or use "
                         "`sparse_categorical_crossentropy`", "sparse_categorical_crossentropy"))
    if one_hot is not None:
        if loss.type in ("sparse_categorical_crossentropy", "nll"):
            out.append(_diag(doc, ("data", "preprocessing"), f"`{loss.type}` takes class indices; remove the "
                             "`one_hot` step"))
        elif one_hot.num_classes != last:
            out.append(_diag(doc, ("data", "preprocessing"), f"one_hot makes {one_hot.num_classes} classes but the "
                             f"model outputs {last}"))
    if loss.type == "binary_crossentropy" and classes is not None and classes != 2:
        out.append(_diag(doc, ("loss", "type"), f"`binary_crossentropy` needs two classes; the data has {classes}"))
    if loss.type in ("mse", "mae", "huber") and recipe.data.source.type == "synthetic_regression":
        t = recipe.data.source.targets
        if out_shape != (t,):
            out.append(_diag(doc, ("loss", "type"), f"the data has {t} regression targets per sample but the model "
                             f"outputs shape {list(out_shape)}"))
    if "accuracy" in recipe.evaluation.metrics and recipe.data.source.type == "synthetic_regression":
        out.append(_diag(doc, ("evaluation", "metrics"), "`accuracy` needs class targets; this data is regression"))
    return out


def check_environment(env: Environment, doc: LoadedDocument) -> list[Diagnostic]:
    out = []
    for pkg, spec in env.requirements.items():
        parts = [s for s in spec.split(",")]
        if not all(_SPECIFIER.match(s) for s in parts):
            out.append(_diag(doc, ("requirements", pkg), f"`{spec}` is not a version specifier",
                             expected="PEP 440 specifiers such as `>=1.17`, `==2.13.0` or `>=2.2,<3`"))
    if env.latency_budget is not None and env.latency_budget.batch_size not in env.batch_sizes:
        out.append(_diag(doc, ("latency_budget", "batch_size"), f"batch size {env.latency_budget.batch_size} is "
                         f"not among batch_sizes {env.batch_sizes}"))
    if env.runtime == "onnxruntime" and env.device.startswith("gpu"):
        out.append(_diag(doc, ("device",), "onnxruntime names its GPU device `cuda`", "cuda"))
    return out
