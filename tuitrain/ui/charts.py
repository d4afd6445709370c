"""What each dashboard plot shows, as plain data: lines built from the run history for a
given number of columns. Pure functions (no Textual, no plotext), so they are tested alone
and the plot widget only has to draw them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tuitrain.core.history import Decimated, RunHistory, decimate, ema

MARKER_SPACING = 3  # epoch dots are drawn while there is a column budget of 3 per epoch


@dataclass(frozen=True)
class Line:
    """One series on a chart."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    label: str
    color: str
    scatter: bool = False
    marker: str = "braille"


@dataclass(frozen=True)
class Chart:
    """A whole plot: title, lines, x range, whether the y axis is logarithmic."""

    title: str
    lines: tuple[Line, ...] = ()
    flags: str = ""  # "log", "smooth 0.6": shown after the title when there is room
    xlim: tuple[float, float] | None = None
    log: bool = False
    empty_text: str = "waiting for data"
    markers: tuple[float, ...] = ()  # steps of live changes: a dotted vertical line each

    @property
    def points(self) -> int:
        """Points drawn in all."""
        return sum(len(line.x) for line in self.lines)

    @property
    def max_line_points(self) -> int:
        """Points of the densest line: the column budget caps this at the plot's width."""
        return max((len(line.x) for line in self.lines), default=0)


@dataclass(frozen=True)
class ChartOptions:
    log: bool = False
    smoothing: float = 0.6  # EMA weight of the smoothed train line; 0 = off


@dataclass
class _Builder:
    columns: int  # decimation columns: each gives at most two points
    log: bool
    lines: list[Line] = field(default_factory=list)

    def add(self, x: np.ndarray, y: np.ndarray, label: str, color: str, scatter: bool = False,
            marker: str = "braille") -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        keep = np.isfinite(y) & ((y > 0) if self.log else True)
        if keep.any():
            self.lines.append(Line(tuple(x[keep].tolist()), tuple(y[keep].tolist()), label, color,
                                   scatter, marker))

    def series(self, d: Decimated, label: str, color: str, smoothing: float,
               smooth_color: str) -> None:
        """A train series: the min/max envelope, plus its smoothed mean when smoothing is on."""
        if smoothing > 0 and len(d.mean_x) > 1:
            self.add(d.x, d.y, label, "gray")
            self.add(d.mean_x, ema(d.mean_y, smoothing), f"{label} (smoothed)", smooth_color)
        else:
            self.add(d.x, d.y, label, color)

    def nans(self, d: Decimated, top: float | None) -> None:
        """Mark non-finite values at the top of the plot, red, labelled, never hidden."""
        if len(d.nan_x) and top is not None:
            self.add(d.nan_x, np.full(len(d.nan_x), top), "NaN/inf", "red", scatter=True,
                     marker="x")


def _top(lines: list[Line]) -> float | None:
    ys = [max(line.y) for line in lines if line.y]
    return max(ys) if ys else None


def _epoch_points(history: RunHistory, key: str) -> tuple[np.ndarray, np.ndarray]:
    return history.epoch_points(key)


def _xlim(history: RunHistory) -> tuple[float, float] | None:
    ends = [s.last_x for s in history.series.values() if len(s)]
    steps, _ = history.epoch_points()
    if len(steps):
        ends.append(float(steps.max()))
    return (0.0, max(max(ends), 1.0)) if ends else None


def _markers(history: RunHistory) -> tuple[float, ...]:
    return tuple(step for step, _ in history.markers)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def train_val_chart(history: RunHistory, name: str, columns: int, opts: ChartOptions,
                    log: bool = False) -> Chart:
    """Train `name` per log interval (envelope and smoothed line) and `val_name` per epoch."""
    b = _Builder(columns, log)
    series = history.series.get(name)
    d = series.view(columns) if series is not None else None
    if d is not None:
        b.series(d, "train", "blue", opts.smoothing, "cyan")
    vx, vy = _epoch_points(history, f"val_{name}")
    if not len(vx) and d is None:  # no per-batch values (e.g. only epoch metrics)
        ex, ey = _epoch_points(history, name)
        e = decimate(ex, ey, columns)
        b.add(e.x, e.y, "train", "blue")
    v = decimate(vx, vy, columns)
    b.add(v.x, v.y, "val", "orange")
    if len(vx) <= columns // MARKER_SPACING:  # a dot per epoch while they stand apart
        b.add(vx, vy, "", "orange", scatter=True, marker="●")
    if d is not None:
        b.nans(d, _top(b.lines))
    title = name if series is None else f"{name} {_fmt(series.last_y)}"
    if len(vy):
        title += f" · val {_fmt(float(vy[-1]))}"
    flags = ["log"] if log else []
    if opts.smoothing > 0 and d is not None:
        flags.append(f"smooth {opts.smoothing:g}")
    return Chart(title, tuple(b.lines), " · ".join(flags), _xlim(history), log,
                 markers=_markers(history))


def single_chart(history: RunHistory, name: str, title: str, columns: int, color: str,
                 log: bool = False, unit: str = "") -> Chart:
    """One per-batch value (learning rate, throughput) as its min/max envelope."""
    b = _Builder(columns, log)
    series = history.series.get(name)
    if series is not None:
        d = series.view(columns)
        b.add(d.x, d.y, "", color)
        b.nans(d, _top(b.lines))
        title = f"{title} {_fmt(series.last_y)}{unit}"
    return Chart(title, tuple(b.lines), "log" if log else "", _xlim(history), log,
                 markers=_markers(history))


def loss_chart(history: RunHistory, columns: int, opts: ChartOptions) -> Chart:
    return train_val_chart(history, "loss", columns, opts, log=opts.log)


def metric_chart(history: RunHistory, metric: str, columns: int, opts: ChartOptions) -> Chart:
    return train_val_chart(history, metric, columns, opts)


def lr_chart(history: RunHistory, columns: int, opts: ChartOptions) -> Chart:
    return single_chart(history, "lr", "learning rate", columns, "magenta", log=opts.log)


def throughput_chart(history: RunHistory, columns: int, opts: ChartOptions) -> Chart:
    return single_chart(history, "samples_per_sec", "throughput", columns, "green",
                        unit=" samples/s")
