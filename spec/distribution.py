"""Data parallelism in the standard: which replica gets which samples, and what a replica count must satisfy.

The normative text is docs/spec/v1-semantics.md, "Data parallelism". This module holds the two pure rules
every part shares (no NumPy, no framework): `shard_bounds` (global batch -> one contiguous shard per
replica) and `problems` (what makes a replica count unusable for a recipe and its model), used by
`lockstep validate` (with the recipe's own `distribution.replicas`) and by `lockstep run --replicas N`
(with the count asked for on the command line, before any process starts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lockstep.spec.documents import Recipe
from lockstep.spec.formats import plural
from lockstep.spec.graph import ModelGraph

PathParts = tuple[str | int, ...]


def shard_bounds(batch: int, replicas: int) -> list[tuple[int, int]]:
    """`[start, stop)` of each replica's shard of a global batch of `batch` samples, in rank order.

    Contiguous and in order (rank 0 holds the first samples); the first `batch % replicas` ranks hold one
    sample more than the others (`numpy.array_split`'s rule), so shards of a full batch are equal whenever
    `replicas` divides the batch size, and the last batch of an epoch, when shorter, is split as evenly as
    it can be. Concatenating the shards in rank order gives the global batch back, each sample once."""
    if replicas < 1 or batch < 0:
        raise ValueError(f"a batch of {plural(batch, 'sample')} cannot be split over {plural(replicas, 'replica')}")
    small, extra = divmod(batch, replicas)
    bounds, start = [], 0
    for rank in range(replicas):
        stop = start + small + (1 if rank < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def replicas_of(recipe: Recipe) -> int:
    """The recipe's own replica count (1 without a `distribution` section)."""
    return recipe.distribution.replicas if recipe.distribution is not None else 1


def batch_norm_mode(recipe: Recipe) -> str | None:
    """`local`, `sync`, or None (not stated)."""
    return recipe.distribution.batch_norm if recipe.distribution is not None else None


@dataclass(frozen=True)
class Problem:
    """One reason a replica count does not fit a recipe: where (a field path of the recipe) and why."""

    path: PathParts
    message: str
    expected: str | None = None


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _norms(graph: ModelGraph) -> list[tuple[str, int]]:
    """(name, values per channel per sample) of every batch_norm node."""
    return [(n.name, math.prod(n.input_shapes[0][1:])) for n in graph.nodes if n.type == "batch_norm"]


def problems(recipe: Recipe, graph: ModelGraph, n_train: int | None, total_steps: int | None,
             replicas: int | None = None) -> list[Problem]:
    """Why `replicas` (default: the recipe's) cannot run `recipe` on the model of `graph`; [] when it can.

    `n_train` (training samples) and `total_steps` are None where they are not known without reading data;
    then only the rules that need neither are checked."""
    out: list[Problem] = []
    if recipe.workers != 1:
        out.append(Problem(("workers",), f"`workers: {recipe.workers}` is no longer read: write `distribution: "
                           f"{{strategy: data_parallel, replicas: {recipe.workers}}}` (and remove `workers`)",
                           "1, or no `workers`"))
    dist = recipe.distribution
    n = replicas_of(recipe) if replicas is None else replicas
    where: PathParts = ("distribution", "replicas") if dist is not None else ("data", "batch_size")
    if dist is None and n == 1:
        return out
    b = recipe.data.batch_size
    if b % n:
        shown = ", ".join(map(str, _divisors(b)[:12]))
        out.append(Problem(where, f"{n} replicas do not divide batch_size {b}: every full batch is split into "
                           f"{n} equal shards, one per replica", f"a divisor of {b} ({shown})"))
    last = n_train % b if n_train is not None and not recipe.data.drop_last else 0
    per_epoch = (n_train // b if recipe.data.drop_last else math.ceil(n_train / b)) if n_train else None
    reached = last > 0 and per_epoch is not None and (total_steps is None or total_steps >= per_epoch)
    if reached and last < n:
        out.append(Problem(where, f"the last batch of every epoch holds {last} of the {n_train} training samples, "
                           f"fewer than the {n} replicas: every replica needs at least one sample; set "
                           "`data.drop_last: true`, or change batch_size or the replica count",
                           f"at most {last} replicas"))
    norms = _norms(graph)
    mode = dist.batch_norm if dist is not None else None
    if norms and mode is None:
        names = ", ".join(f"`{name}`" for name, _ in norms[:3]) + (" ..." if len(norms) > 3 else "")
        section = "" if dist is not None else (" (the recipe has no `distribution` section: add `distribution: "
                                               "{strategy: data_parallel, batch_norm: local}`, or `sync`)")
        out.append(Problem(("distribution",) if dist is not None else ("model",),
                           f"the model has batch_norm ({names}): a data-parallel recipe must say what its statistics "
                           "are over: `distribution.batch_norm: local` (each replica's own shard) or `sync` (the "
                           f"whole global batch){section}", "`batch_norm: local` or `batch_norm: sync`"))
    if norms and mode == "local":
        shard = b // n
        smallest = min(hi - lo for lo, hi in shard_bounds(last, n)) if reached and last >= n else shard
        for name, spatial in norms:
            for size, what in ((shard, f"a shard of every full batch ({shard} sample{'s' * (shard != 1)})"),
                               (smallest, f"the smallest shard of the last batch ({smallest} sample"
                                          f"{'s' * (smallest != 1)})")):
                if size * spatial < 2:
                    out.append(Problem(("distribution", "batch_norm"), f"with `batch_norm: local` each replica "
                                       f"normalizes over its own shard, and {what} gives batch_norm `{name}` one "
                                       "value per channel: use `sync`, fewer replicas or a larger batch_size",
                                       "two or more values per channel and replica"))
                    return out
    return out
