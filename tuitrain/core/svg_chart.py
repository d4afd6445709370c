"""Line charts as standalone SVG files, for reports that open anywhere (a browser, GitHub,
an editor's preview): a frame, ticks, one `<path class="curve">` per series, a legend. Written
by hand rather than through a plotting library: a report then needs nothing installed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50  # margins: y ticks, legend, title, x ticks
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True)
class Series:
    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    dashed: bool = False


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round numbers spanning [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count - 1)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


def line_chart(title: str, series: Sequence[Series], xlabel: str = "epoch",
               ylabel: str = "") -> str:
    """The chart as SVG text; finite points only; an empty chart says so."""
    shown = [s for s in series if any(math.isfinite(v) for v in s.y)]
    xs = [x for s in shown for x, y in zip(s.x, s.y, strict=True) if math.isfinite(y)]
    ys = [y for s in shown for y in s.y if math.isfinite(y)]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT + plot_w / 2}" y="22" text-anchor="middle" font-size="15">'
           f'{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
           'stroke="#444"/>']
    if not xs:
        out.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
                   'text-anchor="middle" fill="#777">no data</text></svg>')
        return "\n".join(out)
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    pad = (y1 - y0) * 0.05 or abs(y0) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (y - y0) / (y1 - y0) * plot_h

    for t in _ticks(x0, x1):
        out.append(f'<line x1="{px(t):.1f}" y1="{TOP + plot_h}" x2="{px(t):.1f}" '
                   f'y2="{TOP + plot_h + 5}" stroke="#444"/>'
                   f'<text x="{px(t):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
                   f'{_label(t)}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{LEFT - 5}" y1="{py(t):.1f}" x2="{LEFT + plot_w}" '
                   f'y2="{py(t):.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 8}" y="{py(t) + 4:.1f}" text-anchor="end">'
                   f'{_label(t)}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
    if ylabel:
        out.append(f'<text x="16" y="{TOP + plot_h / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 16 {TOP + plot_h / 2})">{escape(ylabel)}</text>')
    for i, s in enumerate(shown):
        color = COLORS[i % len(COLORS)]
        points = [(px(x), py(y)) for x, y in zip(s.x, s.y, strict=True) if math.isfinite(y)]
        d = " ".join(f"{'M' if j == 0 else 'L'}{a:.1f},{b:.1f}" for j, (a, b) in
                     enumerate(points))
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        out.append(f'<path class="curve" d="{d}" fill="none" stroke="{color}" '
                   f'stroke-width="2"{dash}><title>{escape(s.label)}</title></path>')
        ly = TOP + 12 + 18 * i
        out.append(f'<line x1="{WIDTH - RIGHT + 12}" y1="{ly - 4}" x2="{WIDTH - RIGHT + 36}" '
                   f'y2="{ly - 4}" stroke="{color}" stroke-width="2"{dash}/>'
                   f'<text x="{WIDTH - RIGHT + 42}" y="{ly}">{escape(s.label[:18])}</text>')
    out.append("</svg>")
    return "\n".join(out)
