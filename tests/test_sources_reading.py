"""Reading a split for evaluation: batches in order, loaded ahead on threads without holding
more than a few, and the per-batch results collected into arrays allocated once (no ML
framework)."""

from __future__ import annotations

import threading

import numpy as np

from tuitrain.core.data import load_splits
from tuitrain.core.sources import collect, read_ahead
from tuitrain.core.spec import DataSpec


def test_read_ahead_keeps_order_and_a_bounded_window() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def load(row: np.ndarray) -> int:
        with lock:
            started.append(int(row[0]))
        return int(row[0])

    rows = [np.array([i]) for i in range(50)]
    got = read_ahead(load, rows, threads=3)
    assert [next(got) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(started) <= 5 + 2 * 3 + 1  # at most 2 x threads loaded ahead, unread
    assert list(got) == list(range(5, 50))
    assert list(read_ahead(load, rows[:4], threads=0)) == [0, 1, 2, 3]


def test_streamed_batches_are_the_in_memory_rows() -> None:
    spec = DataSpec("moons", samples=300)
    whole = load_splits(spec, seed=2)
    streamed = load_splits(DataSpec("moons", samples=300, stream="always", workers=2), seed=2)
    for name in ("train", "val", "test"):
        for (a, b), (c, d) in zip(whole.batches(name, 64), streamed.batches(name, 64),
                                  strict=True):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)


def test_collect_fills_arrays_allocated_once() -> None:
    batches = [(np.full((4, 2), i, np.float32), np.full(4, i)) for i in range(3)]
    out, targets = collect(11, [(o[: 3 if i == 2 else 4], t[: 3 if i == 2 else 4])
                                for i, (o, t) in enumerate(batches)])
    assert out.shape == (11, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(targets, [0] * 4 + [1] * 4 + [2] * 3)
    assert collect(0, []) is None
