"""The in-memory batch source (core/batches.py): a block's index rows staged once, each step's
batch gathered from the split held whole."""

from __future__ import annotations

import numpy as np

from tuitrain.core.batches import BatchSource, InMemorySource
from tuitrain.core.sampler import Sampler


def test_in_memory_source_gathers_each_steps_rows() -> None:
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 3
    source: BatchSource[np.ndarray, np.ndarray] = InMemorySource(x, y)
    block = Sampler(1, 20, 4).rows(0, 1, 3)
    staged = source.stage(block)
    for rows, step in zip(staged, block, strict=True):
        xb, yb = source.batch(rows)
        assert xb.tolist() == [[2 * i, 2 * i + 1] for i in step] and yb.tolist() == list(step % 3)


def test_in_memory_source_stages_and_gathers_its_own_way() -> None:
    staged: list[np.ndarray] = []

    def to_rows(block: np.ndarray) -> list[list[int]]:
        staged.append(block)
        return block.tolist()

    def take(array: np.ndarray, rows: list[int]) -> np.ndarray:
        return np.take(array, rows, axis=0)

    source = InMemorySource(np.arange(10) * 10, np.arange(10), to_rows=to_rows, take=take)
    rows = source.stage(np.array([[3, 1], [0, 9]]))
    assert len(staged) == 1 and rows == [[3, 1], [0, 9]]
    xb, yb = source.batch(rows[1])
    assert xb.tolist() == [0, 90] and yb.tolist() == [0, 9]
