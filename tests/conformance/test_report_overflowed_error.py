"""Two finite values whose difference overflows float64 (1e308 against −1e308) read as "no finite error" in every
report (error none, margin none), as a NaN where a finite value is due does: checks.py's |a − r| was inf. And a
measured error whose ratio overflowed (1e308 against a tolerance of 1e-300) was typed `non-finite` in junit.xml,
where it is a value over its tolerance. Now the error is the largest float (`checks.measured`) and both are typed
`tolerance`; a non-finite value stays `non-finite`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lockstep.conformance.checks import CheckPlan, check
from lockstep.conformance.report import failure_kind, fmt_error, fmt_margin
from lockstep.conformance.results import Worst
from lockstep.reference.tolerances import Tolerance

RULE = Tolerance(1e-10, 1e-12)
BIGGEST = float(np.finfo(np.float64).max)


@pytest.mark.parametrize("planned", [False, True])
def test_finite_values_whose_difference_overflows_are_a_measured_error(planned: bool) -> None:
    reference, actual = np.array([-1e308, 1.0]), np.array([1e308, 1.0])
    c = CheckPlan([("output", reference, RULE)]).run([actual])[0] if planned else check("output", actual, reference,
                                                                                      RULE)
    assert not c.ok and c.why == ""
    assert c.error == BIGGEST and math.isfinite(c.ratio) and c.ratio > 1
    w = Worst(c.quantity, c.error, c.tolerance, c.ratio)
    assert not w.no_error and fmt_error(w) != "none" and fmt_margin(w) != "none", (fmt_error(w), fmt_margin(w))
    assert failure_kind(w) == "tolerance"


def test_a_ratio_that_overflowed_is_a_tolerance_failure_and_a_nan_a_non_finite_one() -> None:
    assert failure_kind(Worst("output", 1e308, 1e-300, math.inf)) == "tolerance"
    assert failure_kind(Worst("output (non-finite (nan; the reference's is 1))", math.inf, 1e-12, math.inf)) \
        == "non-finite"
    assert failure_kind(Worst("output", math.nan, 1e-12, math.nan)) == "non-finite"


def test_a_non_finite_value_is_still_no_finite_error() -> None:
    c = check("output", np.array([math.inf]), np.array([1.0]), RULE)
    assert (c.error, c.ratio) == (math.inf, math.inf) and c.why.startswith("non-finite")
