"""Every command output shown in README.md and docs/tutorials/ is what the command prints today
(docs/tools/gen_outputs.py produces them; this runs each again and compares: float64 numbers exactly as
printed, float32 numbers, which depend on the machine, only through the words around them, e.g. verdicts).
Blocks that need TensorFlow or a certification are marked slow."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_outputs", ROOT / "docs" / "tools" / "gen_outputs.py")
gen = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["gen_outputs"] = gen  # dataclasses look their module up
_spec.loader.exec_module(gen)  # type: ignore[union-attr]

SHOWN = [s for path in gen.DOCS for s in gen.parse(path)]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("docs-outputs")
    return folder, gen.sandbox(folder)


def test_there_are_shown_outputs() -> None:
    labels = [s.label for s in SHOWN]
    assert any("lockstep validate" in x for x in labels) and any("lockstep compare" in x for x in labels), labels
    assert all(s.commands for s in SHOWN)


@pytest.mark.parametrize("shown", [pytest.param(s, id=s.label, marks=[pytest.mark.slow] if s.slow else [])
                                   for s in SHOWN])
def test_shown_output_is_current(shown, scratch) -> None:
    folder, env = scratch
    if any(c.split()[0] == "lockstep" for c in shown.commands) and shutil.which("bash") is None:
        pytest.skip("no bash")
    fresh = gen.run(shown, folder, env)
    mode = shown.options.get("mask", "float64")
    assert gen.mask(shown.body, mode) == gen.mask(fresh, mode), (
        f"{shown.label}: the committed output is stale; run `python docs/tools/gen_outputs.py`\n--- committed\n"
        f"{shown.body}\n--- fresh\n{fresh}")


def test_masking() -> None:
    """What the check ignores: timings, where a worst case was reached, round-off (float64), every number
    (float32); and what it does not: float64 values and words."""
    assert gen.mask("loss 0.6164211854 diff 3.42e-16 in 1.2 s") == "loss 0.6164211854 diff # in #"
    assert gen.mask("holds (worst: ratio 2e-3 at step 4, loss); DIVERGES") == "holds (#); DIVERGES"
    assert gen.mask("loss 0.4164 ratio 0.03", "float32") == "loss # ratio #"
    assert gen.mask("loss 0.4164", "float64") != gen.mask("loss 0.4165", "float64")
