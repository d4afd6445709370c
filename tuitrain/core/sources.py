"""Data that a framework's input pipeline streams in batches instead of holding whole where
the model trains: a `Source` gives random access to one split's samples, `Streams` holds a
run's three splits and how training samples are augmented.

The driver's Sampler still decides which sample indices each step trains on; a streamed
engine hands each step's row to its framework's own pipeline (torch's DataLoader, tf.data),
whose workers call `Streams.train_batch` (evaluation: `split(name).get`). So every framework
trains on the same samples in the same order, augmented the same way, whether the data is in
memory or not.

Sources return samples in tuitrain's layouts, as the in-memory splits hold them: float32
inputs (images channels-last in [0, 1], tabular and sequence features standardized), int64
token ids, int64 class labels, float32 regression targets (standardized)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from tuitrain.core.augment import Augment

if TYPE_CHECKING:
    from tuitrain.core.datasets import DatasetInfo
    from tuitrain.core.preprocessing import Preprocessing, Scaling
    from tuitrain.core.split_index import SplitIndex


T = TypeVar("T")
A = TypeVar("A")  # an array type: numpy's or a framework's


class Source(Protocol):
    """Random access to the samples of one split."""

    def __len__(self) -> int:
        """How many samples the split holds."""

    def get(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x and y of the samples at positions `index` (1-d int64, any order) of the split,
        in that order."""


@dataclass(frozen=True)
class ArraySource:
    """A split held in arrays: in memory, or memory-mapped (`np.load(mmap_mode="r")`: a
    batch reads only its own rows from the file)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def get(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.x[index]), np.asarray(self.y[index])


@dataclass(frozen=True)
class Streams:
    """A run's splits, streamed: what every framework's pipeline loads batches from."""

    train: Source
    val: Source
    test: Source
    augment: Augment | None
    seed: int  # the run's seed: augmentation draws are a function of (seed, epoch, index)
    workers: int  # data-loading worker processes (0: load in the training process)

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.train), len(self.val), len(self.test)

    def train_batch(self, epoch: int, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One training step's batch: the samples of the Sampler's row `index`, augmented
        as (seed, epoch, index) draw."""
        x, y = self.train.get(index)
        if self.augment is not None:
            x = self.augment.apply(x, self.seed, epoch, index)
        return x, y

    def split(self, name: str) -> Source:
        """The source of "train", "val" or "test"."""
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def batches(self, name: str, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A split's samples in order, in batches of `batch_size`, never augmented: what
        evaluation and prediction read, loaded ahead on the data workers' count of threads."""
        source = self.split(name)
        return read_ahead(source.get, eval_rows(len(source), batch_size), self.workers)


def eval_rows(size: int, batch_size: int) -> Iterator[np.ndarray]:
    """A split's samples in order, in batches of `batch_size` (the last one shorter): the
    rows evaluation loads."""
    for start in range(0, size, batch_size):
        yield np.arange(start, min(start + batch_size, size), dtype=np.int64)


def _empty_like(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
    return np.empty(shape, like.dtype)


def collect(
    size: int,
    batches: Iterable[tuple[A, A]],
    empty: Callable[[tuple[int, ...], A], A] = _empty_like,  # type: ignore[assignment]
) -> tuple[A, A] | None:
    """A split's outputs and targets, batch by batch, written into two arrays allocated
    once at the split's `size` (`empty(shape, like)`: numpy's by default, a framework's on
    its device); None for an empty split. Holding each batch's small result in a list while
    the next batch's inputs are allocated carves the allocator's freed blocks so that no
    later batch fits in them: a streamed evaluation then grew by a batch of inputs per batch
    (1.4 GB over a 1.3 GB validation split)."""
    out = targets = None
    at = 0
    for o, t in batches:
        if out is None or targets is None:
            out, targets = empty((size, *o.shape[1:]), o), empty((size, *t.shape[1:]), t)
        out[at : at + len(o)] = o
        targets[at : at + len(t)] = t
        at += len(o)
    return None if out is None or targets is None else (out, targets)


def read_ahead(
    load: Callable[[np.ndarray], T], rows: Iterable[np.ndarray], threads: int
) -> Iterator[T]:
    """`load(row)` of each row, in order, `threads` loads running ahead on threads (decoding
    and file reads release the interpreter lock); 0 threads loads each in turn. At most
    2 x threads results wait unread, so memory stays at a few batches whatever the split's
    size."""
    if threads < 1:
        yield from map(load, rows)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="tuitrain-read") as pool:
        waiting: deque[Future[T]] = deque()
        for row in rows:
            waiting.append(pool.submit(load, row))
            if len(waiting) > 2 * threads:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()


class Streamable(Protocol):
    """A data set opened to stream, not yet split: a person's .npy files, image folder or
    table (`core/streaming.py`), or a text's windows."""

    info: DatasetInfo

    def sources(
        self, index: SplitIndex, saved: Preprocessing | None
    ) -> tuple[tuple[Source, Source, Source], Scaling | None, Scaling | None]:
        """The train, val and test sources of the rows `index`, and the statistics that
        standardize them: the `saved` ones of the run, else the train split's own (None
        where nothing is standardized)."""
