"""Metric history as pure data structures, with memory that does not grow with the run.

A `Series` keeps two views of one metric:
- a full-resolution window of the most recent points (a ring buffer), and
- the whole history as at most `capacity` buckets, each summarising consecutive points
  (first/last x, min and max with their x, sum and count of finite values, first non-finite x).
  When the buckets fill up, neighbours merge pairwise and every bucket covers twice as many
  points, so a 10-point run and a 10,000,000-point run use the same memory.

`decimate` turns points (or buckets) into at most two points per plot column, the minimum and
the maximum, so spikes survive any zoom level; non-finite values are reported per column so
that a NaN is never silently dropped. Nothing here imports Textual or an ML framework.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

FIELDS = ("x0", "x1", "ymin", "xmin", "ymax", "xmax", "ysum", "n", "nan_x")
_F = {name: i for i, name in enumerate(FIELDS)}


@dataclass(frozen=True)
class Decimated:
    """What a plot draws for one series: at most two finite points per column (its min and
    max, in x order), one mean per column (for smoothing), and where non-finite values are."""

    x: np.ndarray
    y: np.ndarray
    mean_x: np.ndarray
    mean_y: np.ndarray
    nan_x: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


EMPTY = Decimated(*(np.empty(0) for _ in range(5)))


def _points_as_buckets(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Raw points as one-point buckets (rows of FIELDS)."""
    finite = np.isfinite(y)
    out = np.empty((len(x), len(FIELDS)))
    out[:, _F["x0"]] = x
    out[:, _F["x1"]] = x
    out[:, _F["ymin"]] = np.where(finite, y, np.inf)
    out[:, _F["xmin"]] = x
    out[:, _F["ymax"]] = np.where(finite, y, -np.inf)
    out[:, _F["xmax"]] = x
    out[:, _F["ysum"]] = np.where(finite, y, 0.0)
    out[:, _F["n"]] = finite
    out[:, _F["nan_x"]] = np.where(finite, np.nan, x)
    return out


def _group(b: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Merge consecutive bucket rows into groups beginning at `starts` (sorted, first = 0)."""
    ends = np.append(starts[1:], len(b)) - 1
    out = np.empty((len(starts), len(FIELDS)))
    out[:, _F["x0"]] = b[starts, _F["x0"]]
    out[:, _F["x1"]] = b[ends, _F["x1"]]
    out[:, _F["ysum"]] = np.add.reduceat(b[:, _F["ysum"]], starts)
    out[:, _F["n"]] = np.add.reduceat(b[:, _F["n"]], starts)
    group_of = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(b))))
    for val, pos, fn in (("ymin", "xmin", np.minimum), ("ymax", "xmax", np.maximum)):
        col = b[:, _F[val]]
        best = fn.reduceat(col, starts)
        out[:, _F[val]] = best
        hit = np.flatnonzero(col == best[group_of])
        first = np.unique(group_of[hit], return_index=True)[1]
        out[:, _F[pos]] = b[hit[first], _F[pos]]
    nan_x = b[:, _F["nan_x"]]
    bad = np.flatnonzero(~np.isnan(nan_x))
    out[:, _F["nan_x"]] = np.nan
    if bad.size:
        groups, first = np.unique(group_of[bad], return_index=True)
        out[groups, _F["nan_x"]] = nan_x[bad[first]]
    return out


def decimate_buckets(b: np.ndarray, columns: int, lo: float | None = None,
                     hi: float | None = None) -> Decimated:
    """Reduce bucket rows (sorted by x) to `columns` columns over [lo, hi]."""
    if len(b) == 0 or columns < 1:
        return EMPTY
    lo = float(b[0, _F["x0"]]) if lo is None else lo
    hi = float(b[-1, _F["x1"]]) if hi is None else hi
    mid = (b[:, _F["x0"]] + b[:, _F["x1"]]) / 2
    keep = (mid >= lo) & (mid <= hi)
    b, mid = b[keep], mid[keep]
    if len(b) == 0:
        return EMPTY
    if len(b) > columns:
        span = max(hi - lo, 1e-12)
        col = np.clip(((mid - lo) / span * columns).astype(np.int64), 0, columns - 1)
        order = np.argsort(col, kind="stable")
        b, col = b[order], col[order]
        starts = np.flatnonzero(np.diff(col, prepend=-1))
        b = _group(b, starts)
    return _to_points(b)


def _to_points(g: np.ndarray) -> Decimated:
    """Each group's min and max as points in x order; means; non-finite positions."""
    has = g[:, _F["n"]] > 0
    gx = g[has]
    xs = np.concatenate([gx[:, _F["xmin"]], gx[:, _F["xmax"]]])
    ys = np.concatenate([gx[:, _F["ymin"]], gx[:, _F["ymax"]]])
    rank = np.concatenate([np.arange(len(gx)), np.arange(len(gx))])
    order = np.lexsort((xs, rank))
    xs, ys, rank = xs[order], ys[order], rank[order]
    dup = np.zeros(len(xs), bool)
    if len(xs) > 1:
        dup[1:] = (rank[1:] == rank[:-1]) & (xs[1:] == xs[:-1])
    xs, ys = xs[~dup], ys[~dup]
    mean_x = (gx[:, _F["x0"]] + gx[:, _F["x1"]]) / 2
    mean_y = gx[:, _F["ysum"]] / gx[:, _F["n"]]
    nan_x = g[:, _F["nan_x"]]
    return Decimated(xs, ys, mean_x, mean_y, nan_x[~np.isnan(nan_x)])


def decimate(x: Iterable[float], y: Iterable[float], columns: int,
             lo: float | None = None, hi: float | None = None) -> Decimated:
    """Min/max decimation of points to `columns` columns (x ascending): at most two finite
    points per column, the extremes of every column kept, non-finite values in `nan_x`."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    return decimate_buckets(_points_as_buckets(xa, ya), columns, lo, hi)


def ema(values: Iterable[float], weight: float) -> np.ndarray:
    """Exponential moving average with start-up bias correction (as TensorBoard draws it);
    non-finite values are skipped (they repeat the previous smoothed value)."""
    v = np.asarray(values, dtype=np.float64)
    out = []
    acc, norm, last = 0.0, 0.0, math.nan
    for value in v.tolist():  # Python floats: 5x faster than numpy scalars in this loop
        if math.isfinite(value):
            acc = acc * weight + (1 - weight) * value
            norm = norm * weight + (1 - weight)
            last = acc / norm if norm else value
        out.append(last)
    return np.asarray(out, dtype=np.float64)


class _Ring:
    """The most recent `size` points at full resolution."""

    def __init__(self, size: int) -> None:
        self.x = np.empty(size)
        self.y = np.empty(size)
        self.size = size
        self.count = 0  # points ever written

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        total = self.count + len(x)
        k = min(len(x), self.size)
        idx = (total - k + np.arange(k)) % self.size
        self.x[idx] = x[-k:]
        self.y[idx] = y[-k:]
        self.count = total

    def first_x(self) -> float:
        """The oldest x still held."""
        return float(self.x[self.count % self.size if self.count > self.size else 0])

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        n = min(self.count, self.size)
        if self.count <= self.size:
            return self.x[:n].copy(), self.y[:n].copy()
        start = self.count % self.size
        return np.roll(self.x, -start), np.roll(self.y, -start)


@dataclass
class Series:
    """One metric over steps: a full-resolution recent window plus a bounded summary of the
    whole history. Points are expected in ascending x (a resumed run may step back a little;
    decimation copes)."""

    recent: int = 4096
    capacity: int = 2048
    count: int = 0
    width: int = 1  # points per full bucket
    _buckets: np.ndarray = field(init=False, repr=False)
    _used: int = field(default=0, init=False)
    _partial: np.ndarray | None = field(default=None, init=False, repr=False)
    _partial_n: int = field(default=0, init=False)
    _ring: _Ring = field(init=False, repr=False)
    last_x: float = float("nan")
    last_y: float = float("nan")

    def __post_init__(self) -> None:
        if self.capacity < 2 or self.capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self._buckets = np.empty((self.capacity, len(FIELDS)))
        self._ring = _Ring(self.recent)

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays: constant for a given recent/capacity."""
        return self._buckets.nbytes + self._ring.x.nbytes + self._ring.y.nbytes

    def append(self, x: float, y: float) -> None:
        self.extend([x], [y])

    def extend(self, x: Iterable[float], y: Iterable[float]) -> None:
        """Add points (vectorised: a chunk of thousands costs about what one does)."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        if len(xa) != len(ya):
            raise ValueError("x and y differ in length")
        if not len(xa):
            return
        self._ring.extend(xa, ya)
        self.count += len(xa)
        self.last_x, self.last_y = float(xa[-1]), float(ya[-1])
        pts = _points_as_buckets(xa, ya)
        while len(pts):
            room = self.width - self._partial_n
            if self._partial_n or len(pts) < self.width:
                take = pts[:room]
                pts = pts[room:]
                both = take if self._partial is None else np.vstack([self._partial[None], take])
                self._partial = _group(both, np.array([0]))[0]
                self._partial_n += len(take)
                if self._partial_n == self.width:
                    self._push(self._partial[None])
                    self._partial, self._partial_n = None, 0
                continue
            whole = min(len(pts) // self.width, self.capacity - self._used)
            if whole == 0:
                self._compact()
                continue
            chunk = pts[: whole * self.width]
            pts = pts[whole * self.width:]
            self._push(_group(chunk, np.arange(0, len(chunk), self.width)))

    def _push(self, rows: np.ndarray) -> None:
        if self._used + len(rows) > self.capacity:
            self._compact()
        self._buckets[self._used:self._used + len(rows)] = rows
        self._used += len(rows)
        if self._used == self.capacity:
            self._compact()

    def _compact(self) -> None:
        """Merge neighbouring buckets pairwise: half the buckets, each twice as wide."""
        merged = _group(self._buckets[: self._used], np.arange(0, self._used, 2))
        self._used = len(merged)
        self._buckets[: self._used] = merged
        self.width *= 2

    def buckets(self) -> np.ndarray:
        """Every bucket, the unfinished last one included (rows of FIELDS)."""
        full = self._buckets[: self._used]
        if self._partial is None:
            return full.copy()
        return np.vstack([full, self._partial[None]])

    def recent_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The recent window's raw points, oldest first."""
        return self._ring.points()

    def view(self, columns: int, lo: float | None = None, hi: float | None = None) -> Decimated:
        """The series over [lo, hi] (default: everything) reduced to `columns` columns; exact
        raw points while they fit in the recent window, bucket summaries beyond it."""
        if self.count == 0:
            return EMPTY
        if self.count <= self.recent or (lo is not None and lo >= self._ring.first_x()):
            return decimate(*self._ring.points(), columns, lo, hi)
        return decimate_buckets(self.buckets(), columns, lo, hi)


@dataclass(frozen=True)
class EpochRow:
    """One finished epoch, as the table and the validation curves show it."""

    epoch: int  # 1-based
    global_step: int
    metrics: Mapping[str, float]
    seconds: float
    is_best: bool


@dataclass
class RunHistory:
    """Everything a dashboard plots for one run: one `Series` per batch value (metrics, `lr`,
    `samples_per_sec`) keyed by name, the per-epoch rows, and the steps of live changes."""

    recent: int = 4096
    capacity: int = 2048
    series: dict[str, Series] = field(default_factory=dict)
    epochs: list[EpochRow] = field(default_factory=list)
    markers: list[tuple[float, str]] = field(default_factory=list)  # (step, what changed live)
    version: int = 0  # bumps on every change; plots redraw only when it moved
    _epoch_cache: dict[str | None, tuple[int, np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def get(self, name: str) -> Series:
        s = self.series.get(name)
        if s is None:
            s = self.series[name] = Series(self.recent, self.capacity)
        return s

    def add_batches(self, steps: Iterable[float], values: Mapping[str, Iterable[float]]) -> None:
        """A chunk of batch points: `steps` and one equally long column per value name."""
        xs = np.asarray(steps, dtype=np.float64)
        if not len(xs):
            return
        for name, ys in values.items():
            self.get(name).extend(xs, ys)
        self.version += 1

    def add_epoch(self, row: EpochRow) -> None:
        self.epochs.append(row)
        self.version += 1

    def add_marker(self, step: float, label: str) -> None:
        """A live change (core/live.py) at `step`: the plots mark it."""
        self.markers.append((float(step), label))
        self.version += 1

    def epoch_points(self, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Global step and value of `key` for each epoch row that has it (None: every row,
        value = its step). Cached and extended with new rows only, so a plot redraw does not
        walk thousands of rows each time. The arrays are shared: read them, never write."""
        seen, xs, ys = self._epoch_cache.get(key, (0, np.empty(0), np.empty(0)))
        rows = self.epochs
        if seen > len(rows):  # rows were taken away: start over
            seen, xs, ys = 0, np.empty(0), np.empty(0)
        if seen < len(rows):
            new = [(r.global_step, r.global_step if key is None else r.metrics[key])
                   for r in rows[seen:] if key is None or key in r.metrics]
            if new:
                a = np.asarray(new, dtype=np.float64)
                xs, ys = np.concatenate([xs, a[:, 0]]), np.concatenate([ys, a[:, 1]])
            self._epoch_cache[key] = (len(rows), xs, ys)
        return xs, ys

    def best_epoch(self) -> EpochRow | None:
        """The latest epoch flagged best (each improvement is flagged when it happens)."""
        return next((row for row in reversed(self.epochs) if row.is_best), None)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.series.values())
