"""Where an engine's training batches come from, apart from their order: the driver's
Sampler (core/sampler.py) decides which sample indices each step trains on, and a
`BatchSource` turns those index rows into the step's (x, y) in the engine's own arrays.

The in-memory source keeps the training split whole where the engine trains (on the device,
as tensors) and gathers each batch by index; the streamed source takes each step's batch from
a framework's input pipeline (torch's DataLoader, tf.data), which loads the epoch's rows ahead
from the moment `start_epoch` names them."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

Rows = TypeVar("Rows")
Array = TypeVar("Array")


class BatchSource(Protocol[Rows, Array]):
    """The batches of a block of steps, given their index rows."""

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        """`Engine.start_epoch`: the epoch and the index rows of its steps still to run."""

    def stage(self, block: np.ndarray) -> Rows:
        """A block's index rows (one per step, from the Sampler) made ready for `batch`, in
        one go: for data on a device, the rows copied there."""

    def batch(self, rows: Rows) -> tuple[Array, Array]:
        """x and y of the samples of one step's row of a staged block."""


def _as_is(block: np.ndarray) -> np.ndarray:
    return block


@dataclass(frozen=True)
class InMemorySource(Generic[Rows, Array]):
    """A split held whole, in any framework's arrays: `to_rows` puts a block of index rows
    where the arrays are, `take(array, rows)` gathers a batch (default: `array[rows]`)."""

    x: Array
    y: Array
    to_rows: Callable[[np.ndarray], Rows] = _as_is  # type: ignore[assignment]
    take: Callable[[Array, Rows], Array] = operator.getitem

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        """Nothing to load ahead: the split is already where the engine trains."""

    def stage(self, block: np.ndarray) -> Rows:
        return self.to_rows(block)

    def batch(self, rows: Rows) -> tuple[Array, Array]:
        return self.take(self.x, rows), self.take(self.y, rows)


# A framework's input pipeline over one epoch's index rows, in order: (row, x, y) per step.
Pipeline = Callable[[int, list[np.ndarray]], Iterator[tuple[Any, Any, Any]]]


class StreamedSource(Generic[Array]):
    """Training batches loaded ahead by a framework's input pipeline: `open(epoch, rows)`
    starts it on the epoch's rows; `stage` hands a block's batches over one step at a time
    (so the pipeline keeps loading while the first ones train), each checked against the
    Sampler's row and made the engine's arrays by `convert`."""

    def __init__(self, open_epoch: Pipeline,
                 convert: Callable[[Any, Any], tuple[Array, Array]]) -> None:
        self.open_epoch = open_epoch
        self.convert = convert
        self._loaded: Iterator[tuple[Any, Any, Any]] | None = None

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        self._loaded = self.open_epoch(epoch, list(rows))

    def stage(self, block: np.ndarray) -> Iterator[tuple[Array, Array]]:
        loaded = self._loaded
        assert loaded is not None, "start_epoch names the rows first"
        for want in block:
            row, x, y = next(loaded)
            if not np.array_equal(np.asarray(row), want):
                raise RuntimeError("the input pipeline loaded another batch than the "
                                   "Sampler's next step: its order must be the rows' own")
            yield self.convert(x, y)

    def batch(self, rows: tuple[Array, Array]) -> tuple[Array, Array]:
        """A staged step's batch is loaded already."""
        return rows
