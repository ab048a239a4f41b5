"""A prepared case on two sessions, the reference and the adapter under test, from the same starting bits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lockstep.adapters.base import Session, TrainingState
from lockstep.runner import Prepared, masks_for


def handed(value: Any) -> Any:
    """A copy of what the suite hands a session under test (an array, a dict of them, a TrainingState; anything
    else as it is): an adapter that writes into its arguments must not change the reference's inputs, the rules'
    or the next check's. One that zeroed the parameters `set_parameters` received once made both sides of level 2
    start from zeros, and a wrong gradient passed."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: handed(v) for k, v in value.items()}
    if isinstance(value, TrainingState):
        return value.copy()
    return value


@dataclass
class Pair:
    prep: Prepared
    reference: Session
    actual: Session
    dtype: str  # the dtype the adapter computes in (the reference always computes in float64)
    target: Any = None  # suite.Target: the adapter under test and where it runs (level 5 builds its replicas)
    blind: Any = None  # resync.BlindSteps: level 4's steps whose bounds could not tell an update from none

    def start(self) -> None:
        """Both sessions at the case's initial parameters and buffers."""
        self.reference.set_parameters(self.prep.initial)
        self.actual.set_parameters(handed(self.prep.initial))

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
        """(x, y, dropout masks) of 0-based optimizer step `step`, as the runner feeds them."""
        _, x, y = self.prep.data.batch(step)
        return x, y, masks_for(self.prep, step, len(x))

    @property
    def model(self):
        return self.prep.model
