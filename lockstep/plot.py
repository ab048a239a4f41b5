"""Small, dependency-free SVG line charts (loss curves), so a run needs no plotting library.

Hand-written SVG: axes with ticks and labels, lines, dots, a legend; viewable in any browser."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
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


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, xlabel: str, ylabel: str,
               points: dict[str, list[tuple[float, float]]] | None = None, log_y: bool = False,
               width: int = 720, height: int = 400) -> str:
    """Series are drawn as lines, `points` as dots; y can be log-scaled (non-positive values dropped)."""
    points = points or {}
    allxy = [p for s in (*series.values(), *points.values()) for p in s if math.isfinite(p[1])]
    if log_y:
        allxy = [p for p in allxy if p[1] > 0]
    if not allxy:
        allxy = [(0.0, 0.0), (1.0, 1.0)]
    fy = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    x0, x1 = min(p[0] for p in allxy), max(p[0] for p in allxy)
    y0, y1 = min(fy(p[1]) for p in allxy), max(fy(p[1]) for p in allxy)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    pad = 0.04 * (y1 - y0)  # keep the extremes off the frame
    y0, y1 = y0 - pad, y1 + pad
    ml, mr, mt, mb = 70, 20, 40, 50
    pw, ph = width - ml - mr, height - mt - mb

    def sx(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return mt + ph - (fy(y) - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
           f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    for t in _ticks(x0, x1):
        out.append(f'<line x1="{sx(t):.1f}" y1="{mt + ph}" x2="{sx(t):.1f}" y2="{mt + ph + 5}" stroke="#888"/>'
                   f'<text x="{sx(t):.1f}" y="{mt + ph + 18}" text-anchor="middle">{_fmt(t)}</text>')
    for t in (_log_ticks(y0, y1) if log_y else _ticks(y0, y1)):
        yv = 10**t if log_y else t
        y = sy(yv)
        out.append(f'<line x1="{ml - 5}" y1="{y:.1f}" x2="{ml + pw}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt(yv)}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 10}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="16" y="{mt + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {mt + ph / 2})">{escape(ylabel)}</text>')
    legend = []
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        good = [p for p in pts if math.isfinite(p[1]) and (p[1] > 0 or not log_y)]
        if good:
            good = _envelope(good, pw)
            path = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(good))
            out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        legend.append((name, color, "line"))
    for i, (name, pts) in enumerate(points.items()):
        color = COLORS[(i + len(series)) % len(COLORS)]
        for x, y in pts:
            if math.isfinite(y) and (y > 0 or not log_y):
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}"/>')
        legend.append((name, color, "dot"))
    for i, (name, color, kind) in enumerate(legend):
        y = mt + 14 + 16 * i
        mark = (f'<line x1="{ml + pw - 150}" y1="{y - 4}" x2="{ml + pw - 130}" y2="{y - 4}" stroke="{color}" '
                f'stroke-width="2"/>' if kind == "line" else
                f'<circle cx="{ml + pw - 140}" cy="{y - 4}" r="3.5" fill="{color}"/>')
        out.append(mark + f'<text x="{ml + pw - 124}" y="{y}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
