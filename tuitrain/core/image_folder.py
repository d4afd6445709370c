"""A person's image folder (one subfolder per class, the ImageFolder layout): scanning it
(file names, classes, and each image's size and mode from its header, nothing decoded) and
decoding its images, all at once for a folder that fits in memory (`decode_all`) or a batch
at a time (`ImageSource`, which a framework's data-loading workers call in parallel).
Images come out channels-last float32 in [0, 1]: one channel when every image is gray, else
RGB.

Pillow is imported when a folder is read, never at module level."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np

from tuitrain.core.catalog import Task
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.errors import UserError, reading
from tuitrain.core.preprocessing import Preprocessing, Scaling
from tuitrain.core.sources import Source
from tuitrain.core.split_index import SplitIndex
from tuitrain.core.text import IMAGE_SUFFIXES

KIND = "image folder"
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_PLAIN_FORMATS = frozenset({"JPEG", "PNG"})  # what TensorFlow decodes as Pillow does
_FALLBACK_SIZE = (32, 32)  # a folder of images of several sizes is resized to it by default


def _pillow() -> ModuleType:
    """PIL.Image."""
    try:
        from PIL import Image
    except ImportError:
        raise UserError("reading an image folder needs Pillow: pip install pillow") from None
    return Image


@dataclass(frozen=True, eq=False)
class Scan:
    """What an image folder holds, read from file names and image headers only."""

    path: Path
    files: tuple[Path, ...]  # every image, class by class, in name order
    labels: np.ndarray  # each file's class id (int64): its subfolder's place in `classes`
    classes: tuple[str, ...]  # the subfolders' names, sorted
    sizes: tuple[tuple[int, int], ...]  # each image's (width, height)
    mode: str  # what every image is converted to: "L" when all are gray, else "RGB"
    stored: tuple[tuple[str, str], ...]  # each image's (format, mode) as its file holds it

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def load_size(self, image_size: int | None) -> tuple[int, int]:
        """(width, height) every image is loaded at: `data.image_size` square when set,
        else the images' own size when they all share it, else 32x32."""
        if image_size is not None:
            return image_size, image_size
        return _FALLBACK_SIZE if self.odd_size() is not None else self.sizes[0]

    def info(self, task: Task | None, image_size: int | None) -> DatasetInfo:
        """The folder as a classification dataset of images of the first image's size."""
        if task == "regression":
            raise UserError(f"{self.path}: regression needs a numeric target, but class holds text")
        width, height = self.load_size(image_size)
        return DatasetInfo(
            str(self.path), "classification", (height, width, self.channels), len(self.classes),
            self.classes, "float32", False, f"{KIND}, {len(self.files)} samples",
            len(self.files),
        )  # fmt: skip

    def odd_size(self) -> tuple[Path, tuple[int, int]] | None:
        """The first image whose size is not the first image's, and its size."""
        first = self.sizes[0]
        for f, size in zip(self.files, self.sizes, strict=True):
            if size != first:
                return f, size
        return None


def _stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Changes when any file of the folder changes; keys the scan cache."""
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(path.glob("*/*")))


def scan(path: Path) -> Scan:
    """The folder's images and classes; an unreadable image or fewer than two classes is a
    one-line error."""
    return _scan(path, _stamp(path))


@lru_cache(maxsize=2)
def _scan(path: Path, _stamp: tuple[tuple[str, int, int], ...]) -> Scan:
    image = _pillow()
    found = [
        (f, d.name)
        for d in sorted(path.iterdir())
        if d.is_dir() and not d.name.startswith(".")
        for f in sorted(d.iterdir())
        if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not found:
        raise UserError(
            f"{path}: no images found; an image folder needs one subfolder per "
            f"class holding {', '.join(IMAGE_SUFFIXES)} files"
        )
    classes = tuple(sorted({c for _, c in found}))
    if len(classes) < 2:
        raise UserError(
            f"{path}: images of one class only ({classes[0]!r}); an image folder needs a "
            "subfolder for each of at least two classes"
        )
    heads = []
    for f, _ in found:
        with reading(f), image.open(f) as im:  # reads the header only
            heads.append((im.size, im.mode, im.format or ""))
    mode = "L" if all(m in _GRAY_MODES for _, m, _ in heads) else "RGB"
    labels = np.searchsorted(np.array(classes), np.array([c for _, c in found])).astype(np.int64)
    files = tuple(f for f, _ in found)
    stored = tuple((fmt, m) for _, m, fmt in heads)
    return Scan(path, files, labels, classes, tuple(s for s, _, _ in heads), mode, stored)


def _decode(files: list[Path], mode: str, size: tuple[int, int]) -> np.ndarray:
    """Images (N, H, W, C) as float32 in [0, 1], each converted to `mode` and, where it is
    another size, resized to `size` (width, height)."""
    image = _pillow()
    x = np.empty((len(files), size[1], size[0], 1 if mode == "L" else 3), np.uint8)
    for i, f in enumerate(files):
        with reading(f), image.open(f) as im:
            im = im.convert(mode)
            im = im if im.size == size else im.resize(size, image.Resampling.BILINEAR)
            x[i] = np.asarray(im).reshape(x.shape[1:])
    return x.astype(np.float32) / 255  # one conversion for the batch


def decode_all(folder: Scan, image_size: int | None) -> np.ndarray:
    """Every image of a folder loaded whole, at its load size (`Scan.load_size`)."""
    return _decode(list(folder.files), folder.mode, folder.load_size(image_size))


@dataclass(frozen=True, eq=False)
class ImageSource:
    """One split of an image folder, decoded a batch at a time: split position i is the
    folder's image `rows[i]`."""

    files: tuple[Path, ...]
    labels: np.ndarray
    rows: np.ndarray
    mode: str
    size: tuple[int, int]  # (width, height)
    as_stored: bool = False  # `StreamedFolder.as_stored`: a framework may decode the files

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows[index]
        return _decode([self.files[r] for r in rows], self.mode, self.size), self.labels[rows]


@dataclass(frozen=True, eq=False)
class StreamedFolder:
    """An image folder opened to stream, each image decoded at the folder's load size (the
    size it would have loaded whole at)."""

    scan: Scan
    info: DatasetInfo
    size: tuple[int, int]  # (width, height)

    @property
    def as_stored(self) -> bool:
        """Every image is a JPEG or PNG file stored at the load size in the load mode, so
        any decoder gives its pixels without a conversion or a resize."""
        folder = self.scan
        return all(
            size == self.size and mode == folder.mode and fmt in _PLAIN_FORMATS
            for size, (fmt, mode) in zip(folder.sizes, folder.stored, strict=True)
        )

    @classmethod
    def open(cls, path: Path, task: Task | None, image_size: int | None) -> StreamedFolder:
        folder = scan(path)
        return cls(folder, folder.info(task, image_size), folder.load_size(image_size))

    def sources(
        self, index: SplitIndex, saved: Preprocessing | None
    ) -> tuple[tuple[Source, Source, Source], Scaling | None, Scaling | None]:
        """The three splits (images are not standardized: `saved` holds no statistics)."""
        folder = self.scan
        train, val, test = (
            ImageSource(folder.files, folder.labels, rows, folder.mode, self.size,
                        self.as_stored)
            for rows in index.parts
        )
        return (train, val, test), None, None
