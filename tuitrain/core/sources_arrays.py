"""Arrays of a person's own data and how their rows become tuitrain's layouts (`Layout`: 8-bit
inputs are pixels, float32 in [0, 1]; other integers token ids, int64; floats features,
float32; labels class ids in sorted order of their values; regression targets float32
columns), whole or a batch at a time. And data sets streamed from arrays: a pair of .npy
files (inputs; labels or targets, named by `data.target`) memory-mapped (`ArrayFile`, whose
`RowSource` reads only each batch's rows; a cached table is served the same way), and a
text's token ids cut into windows per batch (`TextWindows`).

Whatever runs over a whole file (labels' distinct values, a standardization's statistics)
reads it in chunks of `CHUNK_BYTES`, so memory holds one chunk, never the data set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuitrain.core.catalog import Task
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.errors import UserError, reading
from tuitrain.core.preprocessing import Preprocessing, Scaling, saved_or_fit, standardizes_inputs
from tuitrain.core.sources import Source
from tuitrain.core.split_index import SplitIndex

CHUNK_BYTES = 16 << 20  # how much of a file a pass over all of it reads at a time
NPY_KIND = "NPY file"
Sources = tuple[tuple[Source, Source, Source], Scaling | None, Scaling | None]


def _slices(n: int, row_bytes: int) -> Iterator[slice]:
    """Consecutive row ranges of about CHUNK_BYTES each."""
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def _row_bytes(array: np.ndarray) -> int:
    return array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))


def _distinct(y: np.ndarray) -> np.ndarray:
    """The sorted distinct values of `y` (an array or memory map), a chunk at a time."""
    parts = [np.unique(np.asarray(y[s]).reshape(-1)) for s in _slices(len(y), _row_bytes(y))]
    return np.unique(np.concatenate(parts))


def _label_names(values: np.ndarray) -> tuple[str, ...]:
    return tuple(
        str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values.tolist()
    )


@dataclass(frozen=True, eq=False)
class Layout:
    """How rows of a person's arrays become tuitrain's layouts, the same whole or per batch."""

    input_shape: tuple[int, ...]
    input_dtype: str  # "float32" or "int64"
    pixels: bool  # 8-bit inputs: divided by 255
    task: Task
    classes: np.ndarray  # classification: the label values, sorted (class id = place)

    @classmethod
    def infer(
        cls,
        name: str,
        x: np.ndarray,
        y: np.ndarray,
        task: Task | None,
        what: str,
        kind: str,
    ) -> tuple[DatasetInfo, Layout]:
        """Check inputs `x` and labels or targets `y` (arrays or memory maps: only the labels
        are read, a chunk at a time) and infer the task if not given."""
        if x.ndim == 0 or len(x) != len(y) or len(x) == 0:
            n = len(x) if x.ndim else 0
            raise UserError(f"{name}: x has {n} samples and y has {len(y)}; they must match")
        if x.dtype == np.uint8:
            input_dtype = "float32"
        elif x.dtype.kind in "iu":
            input_dtype = "int64"
        elif x.dtype.kind in "fb":
            input_dtype = "float32"
        else:
            raise UserError(f"{name}: inputs must be numbers, not {x.dtype}")
        numeric = y.dtype.kind in "iufb"
        task = task or ("regression" if y.dtype.kind == "f" else "classification")
        classes = np.zeros(0)
        if task == "regression":
            if not numeric:
                raise UserError(f"{name}: regression needs a numeric target, but {what} holds text")
            outputs, names = int(np.prod(y.shape[1:], dtype=np.int64)), ()
        else:
            if y.ndim > 1 and int(np.prod(y.shape[1:])) != 1:
                raise UserError(
                    f"{name}: classification needs one label per sample; {what} has shape {y.shape}"
                )
            classes = _distinct(y)
            outputs, names = len(classes), _label_names(classes)
        shape = tuple(x.shape[1:]) or (1,)
        info = DatasetInfo(
            name, task, shape, outputs, names, input_dtype, False, f"{kind}, {len(x)} samples",
            len(x),
        )  # fmt: skip
        return info, cls(shape, input_dtype, x.dtype == np.uint8, task, classes)

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """Rows of inputs as the model takes them (before any standardization)."""
        x = np.asarray(x).reshape(len(x), *self.input_shape)
        if self.pixels:
            return x.astype(np.float32) / 255
        return x.astype(np.int64 if self.input_dtype == "int64" else np.float32)

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Rows of labels as class ids (int64), or of targets as float32 columns."""
        y = np.asarray(y)
        if self.task == "regression":
            return y.reshape(len(y), -1).astype(np.float32)
        return np.searchsorted(self.classes, y.reshape(-1)).astype(np.int64)


def labels_file(path: Path, target: str | None) -> Path:
    """The labels (or targets) of inputs in the .npy file `path`: `data.target`, a path
    relative to the inputs' folder, or absolute."""
    if not target:
        raise UserError(
            f"{path}: a .npy file holds the inputs only; pass --target LABELS.npy, the file "
            "of labels (or regression targets), one row per sample"
        )
    labels = Path(target).expanduser()
    labels = labels if labels.is_absolute() else path.parent / labels
    if not labels.is_file():
        raise UserError(
            f"{labels}: labels file not found (--target {target} names it, relative to "
            f"{path.parent} unless absolute)"
        )
    return labels


def check_lengths(path: Path, x: np.ndarray, labels: Path, y: np.ndarray) -> None:
    """A pair of .npy files holds one label (or target row) per sample."""
    n_x, n_y = (len(a) if a.ndim else 0 for a in (x, y))
    if n_x != n_y:
        raise UserError(
            f"{path} holds {n_x} samples but {labels} holds {n_y} labels; they must match"
        )


class Mapped:
    """A .npy file memory-mapped, opened once in each process that reads it: it pickles as
    its path, so a data-loading worker process maps the file itself instead of receiving a
    copy of it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._array: np.ndarray | None = None

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            with reading(self.path):
                self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return self._array

    def __reduce__(self) -> tuple[type[Mapped], tuple[Path]]:
        return Mapped, (self.path,)


@dataclass(frozen=True, eq=False)
class RowSource:
    """One split of memory-mapped arrays: split position i is the files' row `rows[i]`,
    read, converted and standardized when its batch is asked for."""

    x: Mapped
    y: Mapped
    rows: np.ndarray
    layout: Layout
    inputs: Scaling | None
    targets: Scaling | None

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows[index]
        x = self.layout.inputs(self.x.array[rows])
        y = self.layout.targets(self.y.array[rows])
        if self.inputs is not None:
            x = self.inputs.apply(x)
        if self.targets is not None:
            y = self.targets.apply(y)
        return x, y


@dataclass(frozen=True, eq=False)
class ArrayFile:
    """A data set in two .npy files, inputs and labels (or targets), memory-mapped."""

    x: Mapped
    y: Mapped
    info: DatasetInfo
    layout: Layout

    @classmethod
    def open(
        cls, inputs: Path, labels: Path, task: Task | None, what: str, kind: str, name: str
    ) -> ArrayFile:
        x, y = Mapped(inputs), Mapped(labels)
        check_lengths(inputs, x.array, labels, y.array)
        info, layout = Layout.infer(name, x.array, y.array, task, what, kind)
        return cls(x, y, info, layout)

    def sources(self, index: SplitIndex, saved: Preprocessing | None) -> Sources:
        """The three splits, standardized with the `saved` statistics, else those of the
        train split (taken in a pass over the files, which also checks every value is
        finite)."""
        info = self.info
        inputs = targets = None
        if standardizes_inputs(info):
            inputs = saved_or_fit(
                saved and saved.inputs, info.input_shape[-1],
                lambda: self._fit(self.x.array, self.layout.inputs, index.train, "inputs"),
                "input", info.name,
            )  # fmt: skip
        if info.task == "regression":
            targets = saved_or_fit(
                saved and saved.targets, info.num_outputs,
                lambda: self._fit(self.y.array, self.layout.targets, index.train, "targets"),
                "target", info.name,
            )  # fmt: skip
        train, val, test = (
            RowSource(self.x, self.y, rows, self.layout, inputs, targets) for rows in index.parts
        )
        return (train, val, test), inputs, targets

    def _fit(
        self,
        array: np.ndarray,
        convert: Callable[[np.ndarray], np.ndarray],
        train: np.ndarray,
        what: str,
    ) -> Scaling:
        """The statistics of the train rows of `array`, read in file order a chunk at a time
        (`convert`: the layout's conversion of rows); every row is checked finite."""
        mask = np.zeros(len(array), bool)
        mask[train] = True

        values = int(np.prod(array.shape[1:], dtype=np.int64))

        def chunks() -> Iterator[np.ndarray]:
            for rows in _slices(len(array), 8 * values):  # taken in float64
                part = convert(array[rows])
                finite = np.isfinite(part).reshape(len(part), -1).all(axis=1)
                if not finite.all():
                    bad = rows.start + int(np.argmin(finite))
                    raise UserError(
                        f"{self.info.name}: {what} contain NaN or infinite values (row {bad})"
                    )
                yield part[mask[rows]]

        return Scaling.fit_chunks(chunks())


@dataclass(frozen=True, eq=False)
class WindowSource:
    """One split of a text's windows, cut a batch at a time from its token ids: split
    position i is window `rows[i]`, the ids `ids[w * block : (w + 1) * block]`, labelled
    at each position with the next one."""

    ids: np.ndarray
    block: int
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = self.rows[index][:, None] * self.block + np.arange(self.block)
        return self.ids[cols].astype(np.int64), self.ids[cols + 1].astype(np.int64)


@dataclass(frozen=True, eq=False)
class TextWindows:
    """A text streamed as windows: its token ids held once, in the smallest integer type
    that holds its vocabulary (a memory-mappable array), never as windows."""

    info: DatasetInfo
    ids: np.ndarray
    block: int

    def sources(self, index: SplitIndex, saved: Preprocessing | None) -> Sources:
        """The three splits (token ids are not standardized: `saved` holds no statistics)."""
        train, val, test = (WindowSource(self.ids, self.block, rows) for rows in index.parts)
        return (train, val, test), None, None
