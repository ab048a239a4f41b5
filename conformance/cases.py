"""A conformance case: a complete, small training problem that exercises one construct, written as a
standalone spec (model + weights + data + recipe) so that a failure reproduces with `lockstep compare`.

A case is plain data (documents and a seed), which hypothesis generates and shrinks; its arrays (initial
parameters, inputs, targets) are derived from the seed by NumPy's PCG64 generator, and the run is
prepared by the runner's own path (`runner.prepare_run` on the written files), so the certification,
`lockstep run` and `lockstep compare` see the same bits, batches and dropout masks.

Folder layout of a written case (`Case.write`):

    model.yaml     the Model, with `weights: {path: weights.npz}`
    weights.npz    every parameter and buffer, canonical names and layouts (float64)
    data.npz       x (inputs) and y (targets): one batch, used at every step (no shuffling)
    recipe.yaml    the Recipe: data from data.npz, batch = all samples, the case's loss/optimizer/...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lockstep.spec import atomic
from lockstep.spec.loader import dump_yaml

Doc = dict[str, Any]
API = "lockstep/v1"

TARGETS = ("regression", "classes", "probabilities", "binary")
"""How targets are drawn: N(0, 1) values; class indices (sparse losses, nll); probability rows
(categorical cross-entropy, soft targets); {0, 1} labels (binary cross-entropy)."""


@dataclass(frozen=True)
class Case:
    """One generated problem. `recipe` holds the training fields only (loss, optimizer, schedule, ...);
    data, model, dtype and steps are filled in when the case is written."""

    construct: str
    model: Doc
    recipe: Doc = field(default_factory=dict)
    seed: int = 0  # of the arrays: parameters, inputs, targets
    batch: int = 4
    steps: int = 1
    targets: str = "regression"
    param_scale: float = 0.5  # parameters ~ N(0, param_scale²)
    edges: tuple[str, ...] = ()  # the edge class the strategy steered the case into (conformance/edges.py)

    # ------------------------------------------------------------------------------------ arrays
    def arrays(self, dtype: str = "float64") -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(parameters and buffers, x, y) from `seed`; buffers are positive (running variances must be). An edge
        case's arrays are then moved into its class (conformance/edges.py; `magnitude` depends on `dtype`)."""
        from lockstep.spec.documents import Model
        from lockstep.spec.graph import build_graph

        graph = build_graph(Model.model_validate(self.model))
        rng = np.random.default_rng(self.seed)
        weights = {k: rng.normal(size=s.shape) * self.param_scale for k, s in graph.parameters().items()}
        weights.update({k: np.abs(rng.normal(size=s.shape)) * 0.5 + 0.5 for k, s in graph.buffers().items()})
        (name, shape), = graph.input_shapes.items()
        if graph.input_dtypes[name] == "int64":
            vocab = min(nd.layer.input_dim for nd in graph.nodes if nd.type == "embedding")  # type: ignore[attr-defined]
            x = rng.integers(0, vocab, size=(self.batch, *shape))
        else:
            x = rng.normal(size=(self.batch, *shape))
        out = tuple(graph.output_shapes()[0])
        y = draw_targets(self.targets, rng, self.batch, out)
        if self.edges:
            from lockstep.conformance import edges

            weights, x, y = edges.apply(self, rng, graph, weights, x, y, dtype)
        return weights, x, y

    # ------------------------------------------------------------------------------------- files
    def documents(self, dtype: str) -> tuple[Doc, Doc]:
        """(Model document, Recipe document) as written to model.yaml and recipe.yaml."""
        model = {**self.model, "weights": {"path": "weights.npz"}}
        recipe: Doc = {
            "apiVersion": API, "kind": "Recipe",
            "metadata": {"name": f"conformance-{self.construct}"},
            "model": "model.yaml", "seed": 0, "dtype": dtype,
            "data": {"source": {"type": "npz", "path": "data.npz"}, "batch_size": self.batch, "shuffle": False},
            "loss": {"type": "mse"},
            "optimizer": {"type": "sgd", "learning_rate": 0.1},
            **self.recipe,
            "training": {"steps": self.steps},
        }
        return model, recipe

    def write(self, folder: Path, dtype: str, *, note: str = "", scratch: bool = False) -> Path:
        """Write the case as a standalone spec into `folder`; returns the recipe's path. `scratch`: `folder` is a
        fresh temporary folder read back at once and removed with the example, so the files are written plainly:
        a kept case (a failure's reproducer) is written atomically and synced, but syncing every example's four
        files cost ~0.5 ms each here (4,000 a default certification) and far more on a slow disk."""
        folder.mkdir(parents=True, exist_ok=True)
        weights, x, y = self.arrays(dtype)
        model, recipe = self.documents(dtype)
        header = f"# {note}\n" if note else ""
        put = (lambda path, data: path.write_bytes(data)) if scratch else atomic.write_bytes
        put(folder / "model.yaml", (header + dump_yaml(model)).encode("utf-8"))
        put(folder / "recipe.yaml", (header + dump_yaml(recipe)).encode("utf-8"))
        put(folder / "weights.npz", _npz(weights))
        put(folder / "data.npz", _npz({"x": x, "y": y}))
        return folder / "recipe.yaml"

    def prepare(self, folder: Path, dtype: str) -> Any:
        """Write the case into the temporary `folder` and prepare it exactly as `lockstep compare` would (a
        runner.Prepared)."""
        from lockstep.runner import prepare_run

        return prepare_run(self.write(folder, dtype, scratch=True))

    def to_json(self) -> Doc:
        return {"construct": self.construct, "model": self.model, "recipe": self.recipe, "seed": self.seed,
                "batch": self.batch, "steps": self.steps, "targets": self.targets,
                "param_scale": self.param_scale, "edges": list(self.edges)}


def draw_targets(kind: str, rng: np.random.Generator, n: int, out: tuple[int, ...]) -> np.ndarray:
    """Targets for a model whose per-sample output shape is `out` (classes on the last axis)."""
    if kind == "classes":
        return rng.integers(0, out[-1], size=(n, *out[:-1]))
    if kind == "probabilities":
        return rng.dirichlet(np.ones(out[-1]), size=(n, *out[:-1]))
    if kind == "binary":
        return rng.integers(0, 2, size=(n, *out)).astype(np.float64)
    if kind == "regression":
        return rng.normal(size=(n, *out))
    raise ValueError(f"unknown target kind `{kind}`; expected one of {', '.join(TARGETS)}")


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def batch_norm_can_train(case: Case) -> bool:
    """Batch statistics need more than one value per channel (N · spatial > 1), as torch insists."""
    from lockstep.spec.documents import Model
    from lockstep.spec.graph import build_graph

    graph = build_graph(Model.model_validate(case.model))
    for nd in graph.nodes:
        if nd.type == "batch_norm" and case.batch * math.prod(nd.input_shapes[0][1:]) <= 1:
            return False
    return True
