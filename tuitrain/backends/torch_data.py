"""torch's own input pipeline for data that streams (core/sources.py): a `DataLoader` whose
worker processes load each step's batch, augmented, as `Streams.train_batch` gives it, in
the Sampler's order, with pinned memory for a CUDA device and workers kept from epoch to
epoch. It serves the torch engine and Keras on torch or JAX."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tuitrain.core.batches import Pipeline
from tuitrain.core.sources import Streams

Key = tuple[int, np.ndarray]  # (epoch, index row): one step's batch


class _StepBatches(Dataset[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """One item per step: the batch of an (epoch, row) key, with the row it was loaded for."""

    def __init__(self, streams: Streams) -> None:
        self.streams = streams

    def __getitem__(self, key: Key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        epoch, row = key
        return (row, *self.streams.train_batch(epoch, row))


class _EpochRows(Sampler[Key]):
    """The keys of the epoch being trained, in order (set by `start_epoch` in the training
    process, where the DataLoader iterates its sampler; workers only get the keys)."""

    def __init__(self) -> None:
        self.epoch = 0
        self.rows: list[np.ndarray] = []

    def __iter__(self) -> Iterator[Key]:
        return ((self.epoch, row) for row in self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def pipeline(streams: Streams, pin_memory: bool) -> Pipeline:
    """Opens the run's DataLoader on each epoch's rows; its batches come as CPU tensors."""
    keys = _EpochRows()
    workers = streams.workers
    options: dict[str, Any] = {"prefetch_factor": 4, "persistent_workers": True} if workers else {}
    # Its own generator: the seed it draws for its workers must not come from torch's
    # global one, whose state (dropout masks) a checkpoint saves and a resume restores.
    generator = torch.Generator().manual_seed(streams.seed)
    loader = DataLoader(_StepBatches(streams), batch_size=None, sampler=keys,
                        num_workers=workers, pin_memory=pin_memory, generator=generator,
                        **options)

    def open_epoch(epoch: int, rows: list[np.ndarray]) -> Iterator[tuple[Any, Any, Any]]:
        keys.epoch, keys.rows = epoch, rows
        return iter(loader)

    return open_epoch

