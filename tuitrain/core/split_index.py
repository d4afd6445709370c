"""Which samples of a data set are in a run's train, validation and test splits: drawn from
the split seed (a permutation of every sample, test first, then validation, the rest
training), recorded in the run folder (`splits.npz`) when the run starts and read back by
resume, eval and export, so that a run always sees the split it started with, and a data set
that changed size since is a one-line error instead of a silently different split."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuitrain.core.atomic import write_with
from tuitrain.core.errors import UserError, one_line

FILE = "splits.npz"
_PARTS = ("train", "val", "test")


def _count(n: int, fraction: float) -> int:
    return max(1, round(n * fraction)) if fraction > 0 else 0


@dataclass(frozen=True, eq=False)
class SplitIndex:
    """The data set's rows (int64) in each split, in the order the split holds them."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.train, self.val, self.test

    @property
    def total(self) -> int:
        return sum(len(p) for p in self.parts)

    @classmethod
    def draw(cls, n: int, val: float, test: float, seed: int, name: str) -> SplitIndex:
        """`n` samples split with `seed`: the same split for the same seed."""
        n_test, n_val = _count(n, test), _count(n, val)
        if not (0 <= val < 1 and 0 <= test < 1) or n_test + n_val >= n:
            raise UserError(
                f"{name}: val_fraction {val} and test_fraction {test} leave no "
                f"training samples out of {n}"
            )
        order = np.random.default_rng(seed).permutation(n)
        test_idx, val_idx, train_idx = np.split(order, [n_test, n_test + n_val])
        return cls(train_idx, val_idx, test_idx)

    def check(self, n: int, name: str) -> None:
        """A recorded split must be of a data set of `n` samples."""
        if self.total != n:
            raise UserError(
                f"{name}: holds {n} samples, but the run's recorded split ({FILE}) is of "
                f"{self.total}; the data changed since the run started: restore it or start "
                "a new run"
            )


def write(path: Path, index: SplitIndex) -> None:
    """Record the split atomically (uint32 rows when they fit, else int64)."""
    dtype = np.uint32 if index.total < 2**32 else np.int64
    arrays = {name: part.astype(dtype) for name, part in zip(_PARTS, index.parts, strict=True)}

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_with(path, save)


def read(path: Path) -> SplitIndex | None:
    """The recorded split, or None when the run predates recorded splits (no file)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            parts = [arrays[name] for name in _PARTS]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a valid split file ({one_line(exc)})") from None
    n = sum(len(p) for p in parts)
    if not all(p.ndim == 1 and p.dtype.kind in "iu" for p in parts) or any(
        len(p) and (p.min() < 0 or p.max() >= n) for p in parts
    ):
        raise UserError(f"{path}: not a valid split file (rows must be whole numbers below {n})")
    return SplitIndex(*(p.astype(np.int64) for p in parts))
