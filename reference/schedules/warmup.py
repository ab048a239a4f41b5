"""warmup (a schedule's `warmup`, any schedule): W steps from factor f, then the schedule shifted by W:

    t < W:   lr(t) = base · (f + (1 − f) · t / W)
    t ≥ W:   lr(t) = schedule(t − W)

so lr(W) = schedule(0) = base for every schedule: the warm-up ramps to, and never past, base. `factor` is
plain arithmetic: the reference evaluates it on Python floats, torch's LambdaLR and TensorFlow's in-graph
schedule on theirs.
"""

from __future__ import annotations

from typing import Any

from lockstep.spec.schedules import Warmup


def factor(warmup: Warmup, t: Any) -> Any:
    """The multiple of the base rate at step t < W."""
    return warmup.start_factor + (1.0 - warmup.start_factor) * t / warmup.steps
