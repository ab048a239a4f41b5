"""Small, dependency-free SVG line charts (loss curves), so a run needs no plotting library.

Hand-written SVG: axes with ticks and labels, lines, dots, a legend; viewable in any browser. A chart takes
any values: a diverging run (1e300, inf, NaN) must still get its plot, and above all must not hide the run's
real outcome behind a plotting traceback. Values are drawn clamped to ±1e300 (beyond that a value is off the
scale anyway), non-finite ones are left out and counted in the legend."""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
LIMIT = 1e300  # |values| are clamped here: every span, pad and tick below stays a finite float
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text(value: object) -> str:
    """`value` as XML character data: escaped, and without the characters XML 1.0 cannot hold at all."""
    return escape(_XML_INVALID.sub("\ufffd", str(value)))


def _clamp(v: float) -> float:
    return max(-LIMIT, min(LIMIT, v))


def _span(lo: float, hi: float) -> tuple[float, float]:
    """A range that ticks can divide: never empty, never narrower than float64 resolves around it (all-equal
    values, one point, or 0 and 1e-300 become a flat line in the middle of a range of width 1 or more)."""
    least = max(abs(lo), abs(hi), 1e-280) * 1e-9
    if hi - lo > least:
        return lo, hi
    mid, half = lo / 2 + hi / 2, max(least, 0.5)
    return mid - half, mid + half


def _ticks(lo: float, hi: float, n: int = 5, whole: bool = False) -> list[float]:
    """About `n` round ticks in [lo, hi]; `whole`: whole numbers only (a step axis: a 3-step run's was labelled
    1.5 and 2.5)."""
    lo, hi = _span(lo, hi)
    raw = max((hi - lo) / n, 1.0) if whole else (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks in log10 space: whole decades, with 2x and 5x added when the range spans few decades."""
    mults = (1, 2, 5) if hi - lo < 3 else (1,)
    ticks = [math.log10(m) + d for d in range(math.floor(lo), math.ceil(hi) + 1) for m in mults]
    inside = [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
    return inside if len(inside) >= 2 else _ticks(lo, hi)


def _envelope(pts: list[tuple[float, float]], columns: int) -> list[tuple[float, float]]:
    """At most ~2 points per pixel column (each column's min and max, in order): a million-step run
    still draws its noise band faithfully in a file of a few hundred kilobytes."""
    if len(pts) <= 2 * columns:
        return pts
    x0, x1 = pts[0][0], pts[-1][0]
    span = (x1 - x0) or 1.0
    out: list[tuple[float, float]] = []
    bucket: list[tuple[float, float]] = []
    current = 0
    for p in pts:
        col = int((p[0] - x0) / span * (columns - 1))
        if col != current and bucket:
            lo, hi = min(bucket, key=lambda q: q[1]), max(bucket, key=lambda q: q[1])
            out.extend(sorted({lo, hi}))
            bucket = []
        current = col
        bucket.append(p)
    if bucket:
        lo, hi = min(bucket, key=lambda q: q[1]), max(bucket, key=lambda q: q[1])
        out.extend(sorted({lo, hi}))
    return out


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _fmt_log(t: float) -> str:
    """The label of a log-axis tick at 10**t, also where 10**t is beyond float64."""
    return _fmt(10**t) if -300 <= t <= 300 else f"1e{round(t)}"


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, xlabel: str, ylabel: str,
               points: dict[str, list[tuple[float, float]]] | None = None, log_y: bool = False,
               width: int = 720, height: int = 400, x_range: tuple[float, float] | None = None) -> str:
    """Series are drawn as lines, `points` as dots; y can be log-scaled (non-positive values dropped).

    Any float is accepted (±inf, NaN, 1e308, subnormals, empty series): non-finite points are not drawn
    and the legend says how many there were. A series with one drawable point is a dot (a line of one point
    draws nothing). `x_range`: the x axis spans at least it, so that stacked panels share their x axis."""
    points = points or {}

    def drawable(p: tuple[float, float]) -> bool:
        x, y = float(p[0]), float(p[1])
        return math.isfinite(x) and math.isfinite(y) and (y > 0 or not log_y)

    def u(y: float) -> float:  # the plotted coordinate of a drawable y
        return _clamp(math.log10(y)) if log_y else _clamp(y)

    def keep(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(_clamp(float(x)), u(float(y))) for x, y in pts if drawable((x, y))]

    lines = {name: keep(pts) for name, pts in series.items()}
    dots = {name: keep(pts) for name, pts in points.items()}
    allxy = [p for pts in (*lines.values(), *dots.values()) for p in pts] or [(0.0, 0.0), (1.0, 1.0)]
    xs = [p[0] for p in allxy] + ([_clamp(float(v)) for v in x_range if math.isfinite(v)] if x_range else [])
    x0, x1 = _span(min(xs), max(xs))
    y0, y1 = _span(min(p[1] for p in allxy), max(p[1] for p in allxy))
    pad = 0.04 * (y1 - y0)  # keep the extremes off the frame
    y0, y1 = y0 - pad, y1 + pad
    ml, mr, mt, mb = 70, 20, 40, 50
    pw, ph = width - ml - mr, height - mt - mb

    def sx(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:  # v in plotted coordinates
        return mt + ph - (v - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{text(title)}</text>',
           f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    for t in _ticks(x0, x1, whole=True):  # x is a step count in every chart
        out.append(f'<line x1="{sx(t):.1f}" y1="{mt + ph}" x2="{sx(t):.1f}" y2="{mt + ph + 5}" stroke="#888"/>'
                   f'<text x="{sx(t):.1f}" y="{mt + ph + 18}" text-anchor="middle">{_fmt(t)}</text>')
    for t in (_log_ticks(y0, y1) if log_y else _ticks(y0, y1)):
        y = sy(t)
        out.append(f'<line x1="{ml - 5}" y1="{y:.1f}" x2="{ml + pw}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt_log(t) if log_y else _fmt(t)}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 10}" text-anchor="middle">{text(xlabel)}</text>')
    out.append(f'<text x="16" y="{mt + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {mt + ph / 2})">{text(ylabel)}</text>')
    legend = []
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        good = _envelope(lines[name], pw)
        if len(good) == 1:
            out.append(f'<circle cx="{sx(good[0][0]):.1f}" cy="{sy(good[0][1]):.1f}" r="3" fill="{color}"/>')
        elif good:
            path = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(good))
            out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        legend.append((_legend_name(name, len(pts) - len(lines[name]), log_y), color, "line"))
    for i, (name, pts) in enumerate(points.items()):
        color = COLORS[(i + len(series)) % len(COLORS)]
        for x, y in dots[name]:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}"/>')
        legend.append((_legend_name(name, len(pts) - len(dots[name]), log_y), color, "dot"))
    for i, (name, color, kind) in enumerate(legend):
        y = mt + 14 + 16 * i
        mark = (f'<line x1="{ml + pw - 150}" y1="{y - 4}" x2="{ml + pw - 130}" y2="{y - 4}" stroke="{color}" '
                f'stroke-width="2"/>' if kind == "line" else
                f'<circle cx="{ml + pw - 140}" cy="{y - 4}" r="3.5" fill="{color}"/>')
        out.append(mark + f'<text x="{ml + pw - 124}" y="{y}">{text(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend_name(name: str, dropped: int, log_y: bool) -> str:
    if not dropped:
        return name
    what = "non-finite or non-positive" if log_y else "non-finite"
    return f"{name} ({dropped} {what} not drawn)"


def stack(svgs: list[str], width: int = 720, height: int = 400) -> str:
    """Several `line_chart` SVGs one above the other in one document (nested <svg> elements)."""
    body = [svg.strip().replace("<svg ", f'<svg x="0" y="{i * height}" ', 1) for i, svg in enumerate(svgs)]
    total = height * len(svgs)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
            f'viewBox="0 0 {width} {total}">\n' + "\n".join(body) + "\n</svg>\n")


def _log_scale(values: list[float]) -> bool:
    """A log axis when every value is positive and they span more than a factor of 50 (a loss falling fast)."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    return len(positive) == len(values) and bool(positive) and max(positive) / min(positive) > 50


def run_chart(history: list[dict], title: str) -> str:
    """The plot of a run (metrics.jsonl records): the training loss with the evaluation loss as dots, then the
    learning rate per step, then one panel per other evaluation metric (accuracy, mse, mae), so that a schedule
    or a metric that stops improving is seen beside the loss rather than guessed from it."""
    train = [(h["step"], h["loss"]) for h in history]
    evals = [h for h in history if isinstance(h.get("eval"), dict)]
    eval_loss = [(h["step"], h["eval"]["loss"]) for h in evals if "loss" in h["eval"]]
    log_y = _log_scale([v for _, v in train + eval_loss])
    panels = [line_chart({"train loss": train}, points={"eval loss": eval_loss} if eval_loss else None,
                         title=title, xlabel="optimizer step", ylabel="loss" + (" (log scale)" if log_y else ""),
                         log_y=log_y)]
    rates = [(h["step"], h["lr"]) for h in history if "lr" in h]
    if rates:
        panels.append(line_chart({"learning rate": rates}, title="learning rate (the step's, after warm-up "
                                 "and schedule)", xlabel="optimizer step", ylabel="learning rate"))
    names = list(dict.fromkeys(k for h in evals for k in h["eval"] if k != "loss"))
    for name in names:
        pts = [(h["step"], h["eval"][name]) for h in evals if name in h["eval"]]
        line = len(pts) > 1  # a line through the evaluations; a lone evaluation is a dot
        panels.append(line_chart({f"eval {name}": pts} if line else {}, points=None if line else {f"eval {name}": pts},
                                 title=f"evaluation {name}", xlabel="optimizer step", ylabel=name))
    return panels[0] if len(panels) == 1 else stack(panels)
