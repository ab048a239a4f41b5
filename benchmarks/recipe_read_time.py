"""Time to read a recipe for a run: once (spec/resolve.py) against the way it was read before.

Every command that runs a recipe (`lockstep run`, `compare`, `deploy`, the conformance suite's cases) reads it
through `runner.load_recipe` (= `lockstep.effective.read`): the recipe file parsed once, every document
validated once, the recipe's model read and validated once with it. The baseline, hand-written here from the
same building blocks, is what `load_recipe` did before: validate the file (which reads and validates the model
for the recipe's checks), parse the recipe file again to find where it was written, then read and validate
the model again to hand it to the runner. Both are timed alternately in one process, median of N, on small
example recipes (a model file, an inline model); `prepare_run` (data and initial weights too) is shown for
scale. Prints a table, then `ratio: X` last (once / before, summed over the recipes; goal < 1).

    python benchmarks/recipe_read_time.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from lockstep.runner import load_recipe, prepare_run
from lockstep.spec.documents import Recipe
from lockstep.spec.loader import load_file
from lockstep.spec.paths import resolve_path
from lockstep.spec.resolve import _Nested
from lockstep.spec.validate import load_and_validate, validate_document

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ["digits-mlp", "small-cnn", "tiny-attention", "inline-model", "huber-regression"]


def before(path: Path) -> tuple[Recipe, object, Path]:
    """The reading `load_recipe` did before the parse-once change, step by step."""
    docs, diags = load_and_validate(path)  # the recipe, and its model for the recipe's checks
    assert not diags, diags
    recipe = next(d for d in docs if isinstance(d, Recipe))
    loaded = next(d for d in load_file(path) if isinstance(d.data, dict) and d.data.get("kind") == "Recipe")
    if isinstance(recipe.model, dict):  # the model once more, to hand it to the runner
        model, problems = validate_document(_Nested(loaded, recipe.model), base_dir=path.parent)  # type: ignore[arg-type]
    else:
        full = resolve_path(path.parent, recipe.model)
        model_doc = next(d for d in load_file(full) if d.data.get("kind") == "Model")
        model, problems = validate_document(model_doc, base_dir=full.parent)
    assert model is not None and not problems
    return recipe, model, path.parent


def _median(fn, path: Path, repeats: int, other, times: dict[str, list[float]], names: tuple[str, str]) -> None:
    for _ in range(repeats):  # alternate, so that load from other jobs falls on both alike
        for name, f in zip(names, (fn, other), strict=True):
            t0 = time.perf_counter()
            f(path)
            times[name].append(time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args(argv)
    total_once = total_before = 0.0
    print(f"{'recipe':18} {'once ms':>9} {'before ms':>10} {'ratio':>6} {'prepare_run ms':>15}")
    for name in RECIPES:
        path = ROOT / "examples" / name / "recipe.yaml"
        assert load_recipe(path)[0] == before(path)[0]  # the same recipe either way (and caches warmed)
        times: dict[str, list[float]] = {"once": [], "before": []}
        _median(load_recipe, path, args.repeats, before, times, ("once", "before"))
        once, old = statistics.median(times["once"]), statistics.median(times["before"])
        prep = []
        for _ in range(max(args.repeats // 20, 3)):
            t0 = time.perf_counter()
            prepare_run(path)
            prep.append(time.perf_counter() - t0)
        total_once += once
        total_before += old
        print(f"{name:18} {once * 1e3:9.3f} {old * 1e3:10.3f} {once / old:6.3f} {statistics.median(prep) * 1e3:15.2f}")
    print(f"ratio: {total_once / total_before:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
