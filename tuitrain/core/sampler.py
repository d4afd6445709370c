"""The sample order of training: which sample indices each step of each epoch trains on, for
one process (rank) of `world_size`, as a pure function of (seed, epoch, step); and the
position (epoch, step) in that order as the checkpoint's driver state saves it.

Every framework trains on the same order, and a run resumed mid-epoch continues on exactly
the batches it had not seen. Steps count global batches of `batch_size` samples; each rank
trains on an equal, disjoint share of every global batch (contiguous: rank r takes the r-th
of `world_size` slices), so world_size 1 is the plain order. A process that trains several
shares itself (one per in-process replica: TensorFlow's MirroredStrategy) takes `shares`
consecutive ones, concatenated. Where an epoch's short last batch does not split evenly,
its last (size mod world_size) samples are left out of that epoch, and a short batch too
small to give every rank a sample is not run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tuitrain.core.errors import UserError


class Sampler:
    """The index rows of every step of every epoch, for one rank."""

    def __init__(
        self,
        seed: int,
        num_samples: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        shares: int = 1,
    ) -> None:
        if batch_size < 1 or batch_size % world_size:
            raise UserError(
                f"batch size {batch_size} cannot be shared by {world_size} "
                "processes; use a positive multiple of the number of processes"
            )
        if not 0 <= rank <= world_size - shares:
            raise UserError(f"rank {rank} is out of range; valid: 0 to {world_size - shares}")
        self.seed = seed
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.shares = shares
        #: steps whose global batch is full, then (unless dropped) the short last one
        self.full_steps = num_samples // batch_size
        short = 0 if drop_last else (num_samples % batch_size) // world_size
        self.steps_per_epoch = self.full_steps + (short > 0)
        self._cached: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        """Every sample index of the epoch in training order (all ranks' together)."""
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
        else:
            order = np.arange(self.num_samples, dtype=np.int64)
        self._cached = (epoch, order)
        return order

    def rows(self, epoch: int, start: int, count: int) -> np.ndarray:
        """This rank's sample indices for steps start .. start+count-1 of the epoch, one row
        per step: (count, shares x batch_size / world_size) for full steps. The epoch's short
        last step comes alone (count 1), its row shorter."""
        if count < 1 or start < 0 or start + count > self.steps_per_epoch:
            raise ValueError(
                f"steps {start}..{start + count - 1} are outside the epoch's "
                f"{self.steps_per_epoch} steps"
            )
        if start + count > self.full_steps and count > 1:
            raise ValueError("the short last step runs alone: its row has another size")
        bs, world = self.batch_size, self.world_size
        batches = self.order(epoch)[start * bs : (start + count) * bs]
        share = len(batches) // (count * world)
        split = batches[: count * world * share].reshape(count, world, share)
        return split[:, self.rank : self.rank + self.shares].reshape(count, -1)

    def steps(self, epoch: int, start: int) -> Iterator[np.ndarray]:
        """This rank's index row of each step of the epoch from `start` on, one at a time:
        what a streamed engine's pipeline loads ahead (`Engine.start_epoch`)."""
        for step in range(start, self.steps_per_epoch):
            yield self.rows(epoch, step, 1)[0]

    def state_dict(self, epoch: int, step: int) -> dict[str, Any]:
        """The position (epoch, step done in it) as the checkpoint's driver state saves it;
        with the batch size that counts its steps."""
        return {"epoch": epoch, "step": step, "batch_size": self.batch_size}

    def position(self, state: dict[str, Any]) -> tuple[int, int]:
        """(epoch, step) to resume at from a saved `state_dict`, in this sampler's steps: a
        batch size changed since (--auto-batch halves it) counts the same samples in its own
        steps, which must come out whole."""
        epoch, step, saved = int(state["epoch"]), int(state["step"]), int(state["batch_size"])
        samples = step * saved
        if samples % self.batch_size:
            raise UserError(
                f"cannot resume mid-epoch with batch size {self.batch_size}: the "
                f"checkpoint is {samples} samples into epoch {epoch + 1}, not a "
                f"whole number of batches; use a batch size dividing {samples}"
            )
        return epoch, samples // self.batch_size
