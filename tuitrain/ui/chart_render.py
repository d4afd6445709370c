"""Draws a `Chart` as terminal lines: braille curves inside a framed canvas, ticks, a title
and a legend, in the layout plotext uses, but rasterised with numpy.

plotext builds its picture one dot at a time in pure Python (a 158x40 plot took 20-30 ms, more
the more vertical travel the min/max envelope has: a spiky history costs twice a smooth one),
and its ANSI output then had to be parsed back into styles. Here every line is rasterised in a
few array operations (its segments interpolated at one dot per step, dots OR-ed into braille
cells) and each screen row becomes a Textual `Strip` of styled runs directly, so a full-screen
plot costs about the same for any history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from tuitrain.ui.charts import Chart, Line

ANSI = {"black": 0, "red": 1, "green": 2, "orange": 3, "yellow": 3, "blue": 4, "magenta": 5,
        "cyan": 6, "gray": 8, "white": 15}  # plotext's colour names (its 16-colour codes)
Y_TICKS, X_TICKS = 7, 5  # as plotext
BRAILLE = 0x2800
# bit of the braille dot at (column 0-1, row 0-3 from the top of the cell)
_DOT = np.array([[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]], dtype=np.uint8)
LEGEND_SYMBOL = {"braille": "⢕"}
MARKER, MARKER_COLOR = "┊", "yellow"  # a live change's step (core/live.py), under the data


@dataclass(frozen=True)
class Palette:
    """Background and text colours (the theme's surface and foreground)."""

    background: Color
    foreground: Color

    def style(self, color: str | None = None) -> Style:
        """Text in `color` (a plotext colour name; None: the foreground) on the background."""
        return _style(self, color)


@lru_cache(maxsize=64)
def _style(palette: Palette, color: str | None) -> Style:
    fg = palette.foreground if color is None else Color.from_ansi(ANSI.get(color, 7))
    return Style(color=fg, bgcolor=palette.background)


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels with just enough decimals to tell neighbours apart (plotext's rule)."""
    if all(t == int(t) for t in ticks):
        return [str(int(t)) for t in ticks]
    d = max((_digits(a, b) for a, b in pairwise(ticks)), default=1)
    return [f"{t:.{d + 1}f}" for t in ticks]


def _digits(a: float, b: float) -> int:
    diff = abs(a - b)
    d = 0.0 if diff == 0 else -math.log10(2 * diff)
    n = 0 if d < 0 else math.ceil(d)
    return n + 1 if round(a, n) == round(b, n) else n


def _lim(lo: float, hi: float) -> tuple[float, float]:
    if lo != hi:
        return lo, hi
    return (0.5 * lo, 1.5 * lo) if lo != 0 else (-1.0, 1.0)


def _bins(values: np.ndarray, lim: tuple[float, float], bins: int) -> np.ndarray:
    """Value -> bin (0..bins-1 inside the limits), as plotext maps data to the canvas."""
    lo, hi = lim
    return np.floor(np.round(0.5 + (bins - 1) * (values - lo) / (hi - lo), 8)).astype(np.int64)


def _segments(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dots of the straight segments joining consecutive points (one dot per step)."""
    if len(px) < 2:
        return px, py
    dx, dy = np.diff(px), np.diff(py)
    n = np.maximum(np.maximum(np.abs(dx), np.abs(dy)), 1)
    seg = np.repeat(np.arange(len(n)), n)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
    t = k / n[seg]
    xs = np.rint(px[:-1][seg] + t * dx[seg]).astype(np.int64)
    ys = np.rint(py[:-1][seg] + t * dy[seg]).astype(np.int64)
    return np.append(xs, px[-1]), np.append(ys, py[-1])


class _Canvas:
    """Cells of a width x height picture: a character and a style index each."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.chars = np.full((height, width), ord(" "), dtype=np.uint32)
        self.colors = np.zeros((height, width), dtype=np.int16)
        self.styles: list[str | None] = [None]

    def style_index(self, color: str | None) -> int:
        if color not in self.styles:
            self.styles.append(color)
        return self.styles.index(color)

    def text(self, col: int, row: int, text: str, color: str | None = None) -> None:
        if not 0 <= row < self.height or col >= self.width:
            return
        if col < 0:
            text, col = text[-col:], 0
        text = text[: self.width - col]
        if text:
            self.chars[row, col:col + len(text)] = [ord(c) for c in text]
            self.colors[row, col:col + len(text)] = self.style_index(color)

    def strips(self, palette: Palette) -> list[Strip]:
        """One strip per row, one segment per run of cells of the same style."""
        styles = [_style(palette, c) for c in self.styles]
        text = self.chars.tobytes().decode("utf-32-le")
        # A blank cell looks the same in any foreground: it joins the run on its left, so a
        # sparse curve is a few long segments rather than one per dot.
        inked = np.arange(self.width) * (self.chars != ord(" "))
        colors = np.take_along_axis(self.colors, np.maximum.accumulate(inked, axis=1), axis=1)
        change = np.ones((self.height, self.width), dtype=bool)
        change[:, 1:] = colors[:, 1:] != colors[:, :-1]
        rows, cols = np.nonzero(change)  # every row starts a run at column 0
        starts = rows * self.width + cols
        ends = np.append(starts[1:], self.height * self.width).tolist()
        segments = [Segment(text[a:b], styles[k]) for a, b, k in
                    zip(starts.tolist(), ends, colors[rows, cols].tolist(), strict=True)]
        bounds = np.cumsum(np.bincount(rows, minlength=self.height)).tolist()
        return [Strip(segments[a:b], self.width) for a, b in
                zip([0, *bounds[:-1]], bounds, strict=True)]


def _y_values(line: Line, log: bool) -> np.ndarray:
    y = np.asarray(line.y, dtype=np.float64)
    return np.log10(y) if log else y


def render_chart(chart: Chart, width: int, height: int, palette: Palette,
                 legend: bool = True, title: str | None = None) -> list[Strip]:
    """The chart as `height` strips of `width` cells: title, framed canvas, y ticks on the
    left, x ticks below, the legend top-left when `legend` and it fits."""
    c = _Canvas(width, height)
    lines = [line for line in chart.lines if line.x]
    if lines:
        ys = [_y_values(line, chart.log) for line in lines]
        ylim = _lim(min(float(y.min()) for y in ys), max(float(y.max()) for y in ys))
    else:
        ys, ylim = [], (0.0, 1.0)
    if chart.xlim is not None:
        xlim = _lim(*chart.xlim)
    elif lines:
        xlim = _lim(min(line.x[0] for line in lines), max(line.x[-1] for line in lines))
    else:
        xlim = (0.0, 1.0)
    ch = height - 4  # canvas rows
    # Up to Y_TICKS labelled rows, evenly spaced; each label is the value its row stands for
    # (bottom row: the minimum, top row: the maximum), so no label names a value drawn on a
    # neighbouring row and none is lost when there are fewer rows than ticks.
    n = max(1, min(Y_TICKS, ch))
    tick_rows = sorted({round(i * (ch - 1) / max(n - 1, 1)) for i in range(n)})
    yticks = [ylim[0] + (ylim[1] - ylim[0]) * r / max(ch - 1, 1) for r in tick_rows]
    ylabels = tick_labels([10**t for t in yticks] if chart.log else yticks) if lines else []
    label_w = max((len(s) for s in ylabels), default=0)
    col0, cw = label_w + 1, width - label_w - 2  # canvas origin and width
    row_top = 2  # row 0: title; row 1: top frame
    if cw < 1 or ch < 1:
        return c.strips(palette)
    name = chart.title if title is None else title
    c.text(max(0, col0 + cw // 2 - len(name) // 2), 0, name)
    # frame, y ticks
    c.text(col0 - 1, 1, "┌" + "─" * cw + "┐")
    c.chars[row_top:row_top + ch, col0 - 1] = ord("│")
    c.chars[row_top:row_top + ch, col0 + cw] = ord("│")
    for r, label in zip(tick_rows, ylabels, strict=False):  # no labels without lines
        c.text(0, row_top + ch - 1 - r, label.rjust(label_w) + "┤")
    bottom = ["─"] * cw
    xticks = [xlim[0] + i * (xlim[1] - xlim[0]) / (X_TICKS - 1) for i in range(X_TICKS)]
    if lines and all(np.all(np.mod(np.asarray(line.x), 1) == 0) for line in lines):
        xticks = sorted({float(round(t)) for t in xticks})  # steps and epochs: whole numbers
    taken = -1
    for col, label in zip(_bins(np.asarray(xticks), xlim, cw).tolist(), tick_labels(xticks),
                          strict=True):
        start = min(max(col0 + col - len(label) // 2, 0), col0 + cw - len(label))
        if lines and start > taken and 0 <= col < cw:
            c.text(start, height - 1, label)
            taken = start + len(label)
            bottom[col] = "┬"
    c.text(col0 - 1, height - 2, "└" + "".join(bottom) + "┘")
    # data, over the markers of live changes (a dotted line each)
    area = c.chars[row_top:row_top + ch, col0:col0 + cw]
    colors = c.colors[row_top:row_top + ch, col0:col0 + cw]
    if lines and chart.markers:
        marks = _bins(np.asarray(chart.markers, dtype=np.float64), xlim, cw)
        marks = marks[(marks >= 0) & (marks < cw)]
        area[:, marks] = ord(MARKER)
        colors[:, marks] = c.style_index(MARKER_COLOR)
    for line, y in zip(lines, ys, strict=True):
        x = np.asarray(line.x, dtype=np.float64)
        style = c.style_index(line.color)
        if line.marker == "braille":
            px, py = _bins(x, xlim, 2 * cw), _bins(y, ylim, 4 * ch)
            if not line.scatter:
                px, py = _segments(px, py)
            keep = (px >= 0) & (px < 2 * cw) & (py >= 0) & (py < 4 * ch)
            px, py = px[keep], 4 * ch - 1 - py[keep]
            bits = np.zeros((ch, cw), dtype=np.uint8)
            np.bitwise_or.at(bits, (py // 4, px // 2), _DOT[px % 2, py % 4])
            hit = bits > 0
            area[hit] = BRAILLE + bits[hit].astype(np.uint32)
            colors[hit] = style
        else:
            px, py = _bins(x, xlim, cw), _bins(y, ylim, ch)
            keep = (px >= 0) & (px < cw) & (py >= 0) & (py < ch)
            area[ch - 1 - py[keep], px[keep]] = ord(line.marker[0])
            colors[ch - 1 - py[keep], px[keep]] = style
    if not lines and chart.empty_text:
        c.text(col0 + max(0, (cw - len(chart.empty_text)) // 2), row_top + ch // 2,
               chart.empty_text)
    if legend:
        _legend(c, [line for line in lines if line.label], col0, row_top, cw, ch)
    return c.strips(palette)


def _legend(c: _Canvas, lines: list[Line], col0: int, row0: int, cw: int, ch: int) -> None:
    """` ⢕⢕ label` per labelled line, top-left inside the canvas, when it fits."""
    if not lines:
        return
    room = max(len(line.label) for line in lines) + 2
    if cw < room + 3 or ch < len(lines):
        return
    for i, line in enumerate(lines):
        symbol = LEGEND_SYMBOL.get(line.marker, line.marker[:1])
        c.text(col0, row0 + i, " ")
        c.text(col0 + 1, row0 + i, symbol * 2, line.color)
        c.text(col0 + 3, row0 + i, f" {line.label} ".ljust(room))
