"""A certificate's numbers are its worst: each level's outcome and figure cover every case the check ran.

The audit's case (issue 13): under a planted gelu bug `gelu.gradients.float32` read "pass ×0.0256" although one of
its cases was 39× over tolerance, because a level's outcome came from the shrunk case (which failed level 1 only)
while its figure covered every case. The planted bug here reproduces that shape on purpose: every case with a
batch of 2 or more fails level 1 (predictions), and those with 3 output values or more (batch × units) also fail
level 2 (gradients), so hypothesis's shrinking ends on a batch of 2 with one unit, a case that fails level 1
only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lockstep.adapters.base import Arrays
from lockstep.conformance import suite
from lockstep.conformance.mutants._base import MutantAdapter, MutantSession
from lockstep.conformance.results import CheckResult

EXAMPLES = 20


class _LevelSplitSession(MutantSession):
    """Eval outputs 1% off for batches of 2 or more; gradients 1% off for batches of 2 or more with 3 output
    values or more (batch × units)."""

    def forward(self, x: np.ndarray | Arrays, *, training: bool = False, masks: Arrays | None = None) -> np.ndarray:
        out = super().forward(x, training=training, masks=masks)
        return out * 1.01 if not training and len(out) >= 2 else out

    def compute_loss(self, loss: Any, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = super().compute_loss(loss, prediction, target)
        return value, grad * 1.01 if prediction.size >= 3 and len(prediction) >= 2 else grad


class LevelSplitAdapter(MutantAdapter):
    name = "mutant-level-split"
    session_class = _LevelSplitSession


def _certify(report_dir: Any = None) -> dict[str, CheckResult]:
    options = suite.Options(levels=(1, 2), dtypes=("float64",), examples=EXAMPLES, constructs=("dense",),
                            report_dir=report_dir)
    cert = suite.certify(LevelSplitAdapter(), LevelSplitAdapter.name, options)
    return {c.level_name: c for c in cert.checks}


def _consistent(r: CheckResult) -> None:
    """pass ⇔ the worst ratio over every case is at most 1 (the figure and the verdict never disagree)."""
    assert r.worst is not None, f"{r.name}: no figure"
    if r.outcome == "pass":
        assert r.worst.ratio <= 1.0, f"{r.name} reads pass with ratio {r.worst.ratio:.3g} (margin {r.worst.margin})"
    else:
        assert r.worst.ratio > 1.0, f"{r.name} reads {r.outcome} with ratio {r.worst.ratio:.3g}"


def test_a_level_fails_when_any_case_failed_it_not_only_the_shrunk_one(tmp_path) -> None:
    results = _certify(tmp_path)
    predictions, gradients = results["predictions"], results["gradients"]
    assert predictions.outcome == "fail", predictions
    # the shrunk case (batch 2, one unit) passes level 2; a larger case failed it, so the level fails
    assert gradients.outcome == "fail", (f"{gradients.name} reads {gradients.outcome} with worst ratio "
                                         f"{gradients.worst.ratio if gradients.worst else None}: {gradients.message}")
    for r in results.values():
        _consistent(r)
    # each failing level writes out a case that fails it (not the shrunk case, for level 2), to reproduce
    for r in results.values():
        assert r.failure_dir is not None and (tmp_path / r.failure_dir / "recipe.yaml").is_file(), r
        readme = (tmp_path / r.failure_dir / "README.md").read_text(encoding="utf-8")
        section = readme.split(f"Level {r.level} ({r.level_name}):\n", 1)[1].split("\n\n", 1)[0]
        assert "- FAIL" in section, f"{r.name}: its failure folder's case passes level {r.level}:\n{readme}"
    assert gradients.message.startswith("loss") or gradients.message.startswith("gradient"), gradients.message


def test_the_figure_is_the_worst_over_every_case(monkeypatch) -> None:
    """Each level's reported ratio is exactly the largest ratio of that level over every case the check ran (the
    passing, the failing and the shrinker's), recorded here case by case around `suite.run_pair`."""
    seen: dict[int, list[float]] = {}
    real = suite.run_pair

    def recording(target, case, levels, workdir):
        out = real(target, case, levels, workdir)
        for level, checks in out.items():
            seen.setdefault(level, []).append(max(c.ratio for c in checks))
        return out

    monkeypatch.setattr(suite, "run_pair", recording)
    results = _certify()
    assert len(seen[1]) > EXAMPLES // 2, seen  # the generated cases and the shrinker's
    for level, name in ((1, "predictions"), (2, "gradients")):
        reported = results[name]
        assert reported.worst is not None and reported.worst.ratio == max(seen[level]), \
            f"{name}: reported ratio {reported.worst}, worst over {len(seen[level])} cases {max(seen[level]):.3g}"
        _consistent(reported)
        # some cases pass a level the check fails: the figure is not the shrunk case's, and not a passing one
        assert min(seen[level]) <= 1.0 < max(seen[level]), (name, min(seen[level]), max(seen[level]))
