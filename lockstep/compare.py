"""Run one recipe on several backends in lock step and find where they first diverge.

Every backend starts from the same initial bits and takes the same batches and dropout masks; after
each step the loss and every parameter are compared with the first backend's under the rule of
conformance/checks.py (float64: 1e-10 relative; float32: the provisional float32 rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockstep.adapters.base import Session
from lockstep.conformance.checks import Check, compare, compare_dicts
from lockstep.runner import Prepared, masks_for


@dataclass
class StepRow:
    step: int
    losses: dict[str, float]
    worst: dict[str, Check]  # backend -> worst check against the first backend at this step


@dataclass
class Comparison:
    backends: list[str]
    dtype: str
    rows: list[StepRow] = field(default_factory=list)
    first_divergence: dict[str, tuple[int, Check]] = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        return not self.first_divergence

    def to_json(self) -> dict[str, Any]:
        return {
            "backends": self.backends, "dtype": self.dtype, "agree": self.agree,
            "first_divergence": {b: {"step": s, "quantity": c.quantity, "error": c.error, "tolerance": c.tolerance}
                                 for b, (s, c) in self.first_divergence.items()},
            "steps": [{"step": r.step, "loss": r.losses,
                       "worst": {b: {"quantity": c.quantity, "error": c.error, "ratio": c.ratio}
                                 for b, c in r.worst.items()}} for r in self.rows],
        }


def run_compare(prep: Prepared, sessions: dict[str, Session], progress: Any = None) -> Comparison:
    names = list(sessions)
    base = names[0]
    result = Comparison(names, prep.recipe.dtype)
    for s in sessions.values():
        s.set_parameters(prep.initial)
    for step in range(prep.total_steps):
        _, x, y = prep.data.batch(step)
        masks = masks_for(prep, step, len(x))
        losses = {n: s.train_step(x, y, masks=masks).loss for n, s in sessions.items()}
        ref_params = sessions[base].get_parameters()
        worst: dict[str, Check] = {}
        for n in names[1:]:
            checks = [compare("loss", losses[n], losses[base], prep.recipe.dtype)]
            checks += compare_dicts("parameter", sessions[n].get_parameters(), ref_params, prep.recipe.dtype)
            w = max(checks, key=lambda c: c.ratio)
            worst[n] = w
            bad = next((c for c in checks if not c.ok), None)
            if bad is not None and n not in result.first_divergence:
                result.first_divergence[n] = (step + 1, bad)
        result.rows.append(StepRow(step + 1, losses, worst))
        if progress is not None:
            progress.update(step + 1, losses[base])
    return result


def format_table(c: Comparison, every: int = 1) -> str:
    others = c.backends[1:]
    head = f"{'step':>6}" + "".join(f"{'loss ' + b:>22}" for b in c.backends)
    head += "".join(f"{'max rel. diff ' + b:>26}" for b in others)
    lines = [head]
    for r in c.rows:
        if r.step % every and r.step != len(c.rows) and r.step != 1:
            continue
        line = f"{r.step:>6}" + "".join(f"{r.losses[b]:>22.12g}" for b in c.backends)
        line += "".join(f"{r.worst[b].ratio * (1e-10 if c.dtype == 'float64' else 1e-4):>26.3g}" for b in others)
        lines.append(line)
    for b in others:
        if b in c.first_divergence:
            s, chk = c.first_divergence[b]
            lines.append(f"{b} diverges from {c.backends[0]} at step {s}: {chk.quantity} differs by {chk.error:.3g} "
                         f"(tolerance {chk.tolerance:.3g})")
        else:
            lines.append(f"{b} agrees with {c.backends[0]} at every step ({c.dtype} tolerance)")
    return "\n".join(lines)


def plot(c: Comparison, path: Path) -> None:
    from lockstep.atomic import write_text
    from lockstep.plot import line_chart

    losses = {b: [(r.step, r.losses[b]) for r in c.rows] for b in c.backends}
    write_text(path, line_chart(losses, title="loss per step, every backend", xlabel="optimizer step",
                                ylabel="loss"))
    diffs = {f"{b} vs {c.backends[0]}": [(r.step, max(r.worst[b].error, 1e-300)) for r in c.rows]
             for b in c.backends[1:]}
    write_text(path.with_name(path.stem + "-diff.svg"),
               line_chart(diffs, title="largest absolute difference per step", xlabel="optimizer step",
                          ylabel="|difference|", log_y=True))
