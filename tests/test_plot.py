"""The loss plot takes any values: a diverging run still gets its plot and its real outcome, never a traceback."""

from __future__ import annotations

import math
import re
from xml.etree import ElementTree

from hypothesis import example, given
from hypothesis import strategies as st

from lockstep.plot import line_chart

SVG = "{http://www.w3.org/2000/svg}"
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 1.7976931348623157e308, 5e-324, -5e-324, 1e-300, 1e300]),
)
SERIES = st.lists(st.tuples(ANY_FLOAT, ANY_FLOAT), max_size=12)
STEPS = st.lists(ANY_FLOAT, max_size=12).map(lambda ys: [(float(i + 1), y) for i, y in enumerate(ys)])
NUMBER_ATTRS = ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height")


def _check_svg(svg: str, values: object) -> ElementTree.Element:
    """Well-formed XML with an <svg> root, and every coordinate a finite number."""
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError as exc:
        raise AssertionError(f"not well-formed XML ({exc}) for values {values!r}") from None
    assert root.tag == f"{SVG}svg", f"root is {root.tag} for values {values!r}"
    for el in root.iter():
        for name in NUMBER_ATTRS:
            raw = el.get(name)
            if raw is not None and not raw.endswith("%"):
                assert math.isfinite(float(raw)), f"<{el.tag} {name}={raw!r}> for values {values!r}"
        d = el.get("d")
        if d is not None:
            numbers = re.findall(r"[-+]?[0-9.]+(?:e[-+]?\d+)?|nan|inf", d)
            assert all(math.isfinite(float(n)) for n in numbers), f"path {d[:80]!r} for values {values!r}"
    return root


@given(train=STEPS, evals=SERIES, other=SERIES, log_y=st.booleans())
@example(train=[(1.0, 1e308), (2.0, math.inf), (3.0, math.nan)], evals=[], other=[], log_y=False)
@example(train=[(1.0, 1e300)] * 3, evals=[], other=[], log_y=False)  # all equal and huge
@example(train=[(1.0, 5e-324)], evals=[(1.0, 5e-324)], other=[], log_y=True)  # one point, subnormal
@example(train=[], evals=[], other=[], log_y=True)  # nothing at all
@example(train=[(1.0, -1.7976931348623157e308), (2.0, 1.7976931348623157e308)], evals=[], other=[], log_y=False)
@example(train=[(1.0, 1e-300), (2.0, 1e300)], evals=[], other=[], log_y=True)  # 600 decades
def test_line_chart_draws_any_values(train, evals, other, log_y) -> None:
    svg = line_chart({"train loss": train, "other": other}, points={"eval loss": evals}, title="t",
                     xlabel="step", ylabel="loss", log_y=log_y)
    _check_svg(svg, (train, evals, other, log_y))


def test_non_finite_values_are_counted_in_the_legend() -> None:
    svg = line_chart({"train loss": [(1.0, 2.0), (2.0, math.inf), (3.0, math.nan), (4.0, 1.0)]}, title="t",
                     xlabel="x", ylabel="y")
    texts = ["".join(t.itertext()) for t in _check_svg(svg, None).iter(f"{SVG}text")]
    assert "train loss (2 non-finite not drawn)" in texts, texts


@given(title=st.text(max_size=30))
def test_any_title_is_escaped(title: str) -> None:
    svg = line_chart({"a": [(1.0, 1.0)]}, title=title, xlabel=title, ylabel=title)
    _check_svg(svg, title)


def test_a_line_and_dots_of_one_name_keep_their_own_values() -> None:
    svg = line_chart({"loss": [(1.0, 1.0), (2.0, 2.0)]}, points={"loss": [(1.0, 5.0)]}, title="t", xlabel="x",
                     ylabel="y")
    root = _check_svg(svg, None)
    (path,) = [e for e in root.iter(f"{SVG}path")]
    assert path.get("d", "").count("L") == 1, path.get("d")  # the line has its two points, not the one dot


def test_the_step_axis_is_labelled_in_whole_steps() -> None:
    """A 3-step run's chart (and compare.svg's) labelled steps 1.5 and 2.5."""
    svg = line_chart({"loss": [(1, 1.0), (2, 0.5), (3, 0.25)]}, title="t", xlabel="step", ylabel="loss")
    labels = re.findall(r'y="368" text-anchor="middle">([^<]+)</text>', svg)  # under the plot area (height 400)
    assert labels == ["1", "2", "3"], labels
