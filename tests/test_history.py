"""The metric history: min/max decimation keeps extremes and NaNs within a column budget, a
series keeps bounded memory however long the run, and its summaries stay exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuitrain.core.history import EpochRow, RunHistory, Series, decimate, ema

values = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.just(math.nan),
    st.just(math.inf),
)


@settings(max_examples=200, deadline=None)
@given(ys=st.lists(values, min_size=1, max_size=400), columns=st.integers(1, 60))
def test_decimate_keeps_extremes_and_nans_within_budget(ys: list[float], columns: int) -> None:
    xs = np.arange(len(ys), dtype=float)
    d = decimate(xs, ys, columns)
    y = np.asarray(ys)
    finite = np.isfinite(y)
    assert len(d.x) <= 2 * columns
    assert len(d.nan_x) <= columns
    assert np.all(np.diff(d.x) >= 0), "points come in x order"
    assert set(d.x.tolist()) <= set(xs.tolist()), "only real points are drawn"
    if finite.any():
        assert d.y.max() == y[finite].max()
        assert d.y.min() == y[finite].min()
    else:
        assert len(d.x) == 0
    assert (len(d.nan_x) > 0) == (not finite.all()), "a NaN is never silently dropped"


def test_decimate_small_input_is_exact() -> None:
    d = decimate([0, 1, 2], [3.0, 1.0, 2.0], columns=10)
    assert d.x.tolist() == [0, 1, 2]
    assert d.y.tolist() == [3.0, 1.0, 2.0]


def test_decimate_keeps_a_single_spike_in_a_million_points() -> None:
    x = np.arange(1_000_000, dtype=float)
    y = np.ones_like(x)
    y[123_457] = 50.0
    y[765_432] = math.nan
    d = decimate(x, y, columns=80)
    assert d.y.max() == 50.0 and 123_457 in d.x
    assert d.nan_x.tolist() == [765_432]
    assert len(d.x) <= 160


def test_series_memory_is_bounded_and_summaries_exact() -> None:
    rng = np.random.default_rng(0)
    s = Series(recent=256, capacity=64)
    size0 = s.nbytes
    total = 0
    all_y = []
    for _ in range(300):
        n = int(rng.integers(1, 3000))
        x = np.arange(total, total + n, dtype=float)
        y = rng.normal(size=n)
        s.extend(x, y)
        all_y.append(y)
        total += n
        assert s.nbytes == size0
        assert len(s.buckets()) <= 64 + 1
    y = np.concatenate(all_y)
    b = s.buckets()
    assert b[:, 7].sum() == total == len(s), "every point counted once"
    assert np.isclose(b[:, 6].sum(), y.sum())
    assert b[:, 4].max() == y.max() and b[:, 2].min() == y.min()
    assert b[0, 0] == 0 and b[-1, 1] == total - 1
    rx, ry = s.recent_points()
    assert rx.tolist() == list(range(total - 256, total))
    assert np.array_equal(ry, y[-256:])


def test_series_point_by_point_equals_chunked() -> None:
    y = np.sin(np.arange(1000) / 7.0)
    a, b = Series(recent=32, capacity=8), Series(recent=32, capacity=8)
    for i, v in enumerate(y):
        a.append(i, v)
    b.extend(np.arange(1000), y)
    assert np.allclose(a.buckets(), b.buckets(), equal_nan=True)
    assert a.width == b.width


def test_series_view_uses_raw_points_while_they_fit_then_buckets() -> None:
    s = Series(recent=100, capacity=16)
    s.extend(np.arange(50), np.arange(50.0))
    d = s.view(columns=100)
    assert d.x.tolist() == list(range(50))
    s.extend(np.arange(50, 10_000), np.arange(50.0, 10_000.0))
    d = s.view(columns=20)
    assert len(d.x) <= 40
    assert d.y.min() == 0 and d.y.max() == 9_999
    recent = s.view(columns=200, lo=9_950)
    assert recent.x.tolist() == list(range(9_950, 10_000))


def test_series_nan_survives_compaction() -> None:
    s = Series(recent=8, capacity=4)
    y = np.ones(1000)
    y[333] = math.nan
    s.extend(np.arange(1000), y)
    d = s.view(columns=3)
    assert d.nan_x.tolist() == [333]


def test_ema_debiased_and_skips_nans() -> None:
    out = ema([1.0, 1.0, math.nan, 1.0], 0.9)
    assert np.allclose(out, 1.0), "debiased: a constant stays constant from the start"
    out = ema([0.0, 10.0], 0.5)
    assert out[0] == 0.0 and 0 < out[1] < 10
    assert math.isnan(ema([math.nan], 0.5)[0])


def test_run_history_versions_and_best() -> None:
    h = RunHistory(recent=16, capacity=8)
    v0 = h.version
    h.add_batches([1, 2], {"loss": [1.0, 0.5], "lr": [0.1, 0.1]})
    assert h.version > v0 and set(h.series) == {"loss", "lr"}
    h.add_epoch(EpochRow(1, 2, {"val_loss": 0.4}, 1.0, True))
    h.add_epoch(EpochRow(2, 4, {"val_loss": 0.5}, 1.0, False))
    best = h.best_epoch()
    assert best is not None and best.epoch == 1


def test_epoch_points_follow_new_rows_and_match_a_fresh_read() -> None:
    h = RunHistory()
    assert [a.tolist() for a in h.epoch_points("val_loss")] == [[], []]
    h.add_epoch(EpochRow(1, 40, {"loss": 1.0, "val_loss": 1.5}, 1.0, True))
    h.add_epoch(EpochRow(2, 80, {"loss": 0.8}, 1.0, False))  # no val_loss this epoch
    x, y = h.epoch_points("val_loss")
    assert x.tolist() == [40.0] and y.tolist() == [1.5]
    h.add_epoch(EpochRow(3, 120, {"loss": 0.7, "val_loss": 1.1}, 1.0, True))
    x, y = h.epoch_points("val_loss")  # extended with the new row only
    assert x.tolist() == [40.0, 120.0] and y.tolist() == [1.5, 1.1]
    steps, same = h.epoch_points()  # every row: its step
    assert steps.tolist() == same.tolist() == [40.0, 80.0, 120.0]
    h.epochs[:] = h.epochs[:1]  # rows taken away: read again from the start
    assert h.epoch_points("val_loss")[0].tolist() == [40.0]
    assert h.epoch_points()[0].tolist() == [40.0]


def test_capacity_must_be_even() -> None:
    with pytest.raises(ValueError):
        Series(capacity=3)
