"""On-the-fly augmentation of training images: random crop (pad, then cut a window of the
original size back out) and horizontal flip, as `[data] augment` sets them.

Every draw is a pure function of (seed, epoch, sample index): a counter-based hash, not a
random generator's state. So an epoch's augmented tensors do not depend on which worker
process made a batch, on the order batches were made in, or on where a run was resumed: a
run resumed mid-epoch trains on exactly the tensors an uninterrupted one would have. Numpy
only, applied where a framework's input pipeline loads a batch (its worker processes or
threads), to the training split only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: 64 well-mixed bits from any 64-bit counter (uint64 arrays
    wrap on overflow, as the hash needs)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & _MASK


def draws(seed: int, epoch: int, index: np.ndarray, stream: int) -> np.ndarray:
    """64 random bits per sample index, for draw number `stream` of (seed, epoch)."""
    key = np.zeros(1, dtype=np.uint64)
    for part in (seed, epoch, stream):
        key = _mix(key ^ (np.uint64(part) + _GOLDEN))
    counter = np.asarray(index, dtype=np.uint64).reshape(-1) * _GOLDEN
    return _mix(counter ^ key)


@dataclass(frozen=True)
class Augment:
    """Which augmentations a run's training images get."""

    crop: int = 0  # pixels of zero padding on each side before the random crop; 0 = off
    flip: bool = False

    @classmethod
    def from_spec(cls, data: DataSpec) -> Augment | None:
        """The data section's augmentation (names checked against AUGMENTATIONS when the spec
        was read), or None when it sets none."""
        if not data.augment:
            return None
        return cls(
            crop=data.crop_padding if "crop" in data.augment else 0, flip="flip" in data.augment
        )

    def check(self, input_shape: tuple[int, ...], name: str) -> None:
        """Augmentation applies to images (height, width, channels) only."""
        if len(input_shape) != 3:
            raise UserError(
                f"{name}: data.augment (crop, flip) applies to images of shape (height, "
                f"width, channels); this data's samples have shape {input_shape}"
            )

    def draw(
        self, seed: int, epoch: int, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each sample's crop window, as offsets (top, left) into the padded image (int64;
        0 without a crop), and whether it is flipped (bool)."""
        n = len(index)
        dy = dx = np.zeros(n, np.int64)
        if self.crop:
            offsets = draws(seed, epoch, index, 0)
            side = np.uint64(2 * self.crop + 1)
            dy = (offsets % side).astype(np.int64)
            dx = ((offsets >> np.uint64(32)) % side).astype(np.int64)
        flip = np.zeros(n, bool)
        if self.flip:
            flip = (draws(seed, epoch, index, 1) & np.uint64(1)).astype(bool)
        return dy, dx, flip

    def apply(self, x: np.ndarray, seed: int, epoch: int, index: np.ndarray) -> np.ndarray:
        """The augmented batch `x` (N, H, W, C) of the samples `index` in `epoch`: each image
        cut out of the padded batch and flipped in one copy (slices, which cost a fraction
        of a gather over the whole batch)."""
        n, h, w, _ = x.shape
        if self.crop:
            p = self.crop
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        dy, dx, flip = self.draw(seed, epoch, index)
        out = np.empty((n, h, w, x.shape[3]), x.dtype)
        for i, (top, left, mirror) in enumerate(zip(dy.tolist(), dx.tolist(), flip.tolist(),
                                                    strict=True)):
            window = x[i, top:top + h, left:left + w]
            out[i] = window[:, ::-1] if mirror else window
        return out
