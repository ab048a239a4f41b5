"""Reading a csv data source, by the standard's rule for a cell, against two hand-written baselines.

Writes one csv (`--rows` rows of 8 features and a 0/1 target, `%.10g`, a header), then times, alternating and
in one process: `lockstep.reference.data._load_csv` (what `lockstep run` does: a counting pass, then every
cell checked as the standard says a cell is a number, v1-semantics "csv", into one float64 array), the same
rule as `lockstep validate` reads it (`spec.semantics.data.source_facts`, without numpy), and two baselines:
`csv.reader` with `float()` per cell (no rule: it takes `5_0`, `٥` and `nan`) and `numpy.loadtxt` (its own C
parser). Prints a table, then `ratio: X` last (run's reading time / the csv.reader baseline's).

    python benchmarks/csv_read_time.py [--rows 600000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _write(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    data = np.column_stack([rng.normal(size=(rows, 8)), (rng.random(rows) > 0.5).astype(int)])
    with path.open("w") as f:
        f.write(",".join([f"f{i}" for i in range(8)] + ["t"]) + "\n")
        np.savetxt(f, data, delimiter=",", fmt="%.10g")


def _baseline_csv(path: Path) -> np.ndarray:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return np.array([[float(c) for c in row] for row in reader])


def _validate_rule(path: Path) -> None:
    from lockstep.spec.documents import Recipe
    from lockstep.spec.loader import load_text
    from lockstep.spec.semantics.data import source_facts

    text = (f"apiVersion: lockstep/v1\nkind: Recipe\nmetadata: {{name: r}}\nmodel: m.yaml\nseed: 0\n"
            f"data:\n  source: {{type: csv, path: {path.name}, target: t, header: true}}\n  batch_size: 8\n"
            "loss: {type: binary_crossentropy, from_logits: true}\noptimizer: {type: sgd, learning_rate: 0.1}\n"
            "training: {steps: 1}\n")
    doc = load_text(text, str(path.parent / "r.yaml"))[0]
    out: list = []
    facts = source_facts(Recipe.model_validate(doc.data), doc, path.parent, out)
    assert facts.samples and not out, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from lockstep.reference.data import _load_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        _write(path, args.rows)
        size = path.stat().st_size
        ways = {
            "lockstep run's reading (_load_csv: the rule, two passes, float64 array)":
                lambda: _load_csv(path, "t", True, ","),
            "lockstep validate's reading (the rule, no numpy)": lambda: _validate_rule(path),
            "baseline: csv.reader + float() per cell (no rule)": lambda: _baseline_csv(path),
            "baseline: numpy.loadtxt": lambda: np.loadtxt(path, delimiter=",", skiprows=1),
        }
        times: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(args.repeats):
            for name, way in ways.items():
                t0 = time.perf_counter()
                way()
                times[name].append(time.perf_counter() - t0)
    print(f"{args.rows:,} rows x 9 columns, {size / 2**20:.1f} MiB; median of {args.repeats}, alternated\n")
    print("| reading | median s | MiB/s |\n| --- | --- | --- |")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, m in med.items():
        print(f"| {name} | {m:.2f} | {size / 2**20 / m:.1f} |")
    run, _, base, _ = med.values()
    print(f"\nratio: {run / base:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
