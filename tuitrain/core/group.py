"""The processes that train one run together (data parallel), as the driver sees them: this
process's rank, how many there are, and the two collectives the driver needs. No framework:
a backend that trains on several processes supplies one (torch: `torch.distributed` over a
gloo group, backends/torch_group.py); a run on one process uses SOLO.

What the driver does with it (core/trainer.py): rank 0 alone reads commands and decides
(stop, pause, the block size), with a stop signal any rank got; every rank applies the same
decision at the same step, so no rank ever waits in a collective that another has left.
Logged values are summed over the ranks (`all_sum`) before anyone writes them; only rank 0
writes the run folder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Group(Protocol):
    """This process's place among the run's processes, and their collectives."""

    @property
    def rank(self) -> int: ...

    @property
    def world_size(self) -> int: ...

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        """The element-wise sum of `values` (float64) over every rank, on every rank."""

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` (a small picklable object), on every rank."""

    def describe(self) -> str:
        """The strategy as the dashboard names it: 'DDP x2 gloo'; '' for one process."""


@dataclass(frozen=True)
class Solo:
    """One process: rank 0 of 1, collectives that return what they are given."""

    rank: int = 0
    world_size: int = 1

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        return values

    def broadcast(self, value: Any) -> Any:
        return value

    def describe(self) -> str:
        return ""


SOLO = Solo()


@dataclass(frozen=True)
class Decision:
    """What rank 0 decided after a block, applied by every rank before the next one. It
    travels as six numbers in one `all_sum`, where every other rank adds only a stop asked
    there (a signal to one machine's processes stops the whole run, at the same step). The
    learning rate's base and live multiplier (core/live.py) are rank 0's, so a change made
    live reaches every rank for the same step."""

    stop: bool = False
    paused: bool = False  # sent repeatedly while paused: the others wait for the next one
    block_cap: int = 1  # steps in the next block
    checkpoint: bool = False  # every rank saves now (rank 0 writes)
    base_lr: float = 0.0
    lr_scale: float = 0.0

    def row(self) -> np.ndarray:
        return np.array([self.stop, self.paused, self.block_cap, self.checkpoint,
                         self.base_lr, self.lr_scale], np.float64)

    @staticmethod
    def asked(stop: bool) -> np.ndarray:
        """The row of a rank other than 0: its stop request and nothing else."""
        return np.array([stop, 0, 0, 0, 0, 0], np.float64)

    @classmethod
    def summed(cls, row: np.ndarray) -> Decision:
        stop, paused, block_cap, checkpoint, base_lr, lr_scale = (float(v) for v in row)
        return cls(stop > 0, paused > 0, int(block_cap), checkpoint > 0, base_lr, lr_scale)
