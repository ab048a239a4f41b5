"""benchmarks/tf_eager_costs.py, whose rows docs/conformance.md's "Why 2× is out of reach" quotes: it runs, and every
row it prints is a positive time with its ratio to the baseline of its section."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "tf_eager_costs.py"
ROW = re.compile(r"^  (.+?)\s+([\d.]+) (us|ms)\s+x\s*([\d.]+)$", re.M)


def test_every_row_is_a_time_and_its_ratio(capsys) -> None:
    spec = importlib.util.spec_from_file_location("tf_eager_costs_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--repeat", "1"]) == 0
    out = capsys.readouterr().out
    rows = ROW.findall(out)
    labels = [label for label, *_ in rows]
    assert len(rows) >= 20, out
    for label, value, _unit, ratio in rows:
        assert float(value) > 0 and float(ratio) > 0, (label, value, ratio)
    baselines = [label for label, value, unit, ratio in rows if float(ratio) == 1.0]
    assert "tf.raw_ops.AddV2" in baselines and "Dense: tf.matmul + tf.add" in baselines, out
    assert any(label.startswith("adapter, eager step, Adam") for label in labels), out
    assert any(label.startswith("adapter, compiled: each step") for label in labels), out
