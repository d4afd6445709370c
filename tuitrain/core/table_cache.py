"""A CSV or Parquet table that streams, converted once, a record batch at a time
(`core/tables.py`), into two .npy files in the download cache (`cache_dir()/tables/KEY/`):
its float32 feature columns, and its label or target column(s) (text labels as fixed-width
strings). KEY is a hash of the table's path, size and modification time and of
`data.target`, so a changed table, or another target, converts again. The folder is written
under a temporary name and renamed whole (`core/atomic.py`): a failed or interrupted
conversion leaves nothing behind. The files are then memory-mapped like a person's own .npy
files (`core/sources_arrays.py`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tuitrain.core import tables
from tuitrain.core.atomic import write_with
from tuitrain.core.datasets import cache_dir
from tuitrain.core.errors import reading

VERSION = 1  # of the conversion: a new one converts every table again
INPUTS, LABELS, META = "inputs.npy", "labels.npy", "meta.json"
_COPY_ROWS = 1 << 16  # rows copied at a time from a raw file into its .npy file


@dataclass(frozen=True)
class Converted:
    """A table's cached .npy files, and what its target is (for errors)."""

    inputs: Path
    labels: Path
    what: str


def folder(path: Path, target: str | None) -> Path:
    """Where the conversion of `path` with `target` is cached."""
    stat = path.stat()
    key = f"{VERSION}\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{target or ''}"
    return cache_dir() / "tables" / hashlib.sha256(key.encode()).hexdigest()[:32]


def converted(path: Path, target: str | None) -> Converted:
    """The table's .npy files, converting it first when it has not been (or has changed)."""
    where = folder(path, target)
    if not (where / META).is_file():
        write_with(where, lambda tmp: _convert(path, target, tmp), is_dir=True)
    with reading(where / META, f"; delete {where} to convert {path} again"):
        what = json.loads((where / META).read_text(encoding="utf-8"))["what"]
    return Converted(where / INPUTS, where / LABELS, what)


class _Rows:
    """Rows of one dtype and row shape appended to a raw file, then saved as a .npy file
    (whose header needs the row count, known only at the end)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.dtype: np.dtype | None = None
        self.shape: tuple[int, ...] = ()
        self.count = 0

    def add(self, rows: np.ndarray) -> None:
        if self.dtype is None:
            self.dtype, self.shape = rows.dtype, rows.shape[1:]
        self.raw.write(np.ascontiguousarray(rows, self.dtype).tobytes())
        self.count += len(rows)

    def save(
        self,
        dest: Path,
        convert: Callable[[np.ndarray], np.ndarray] | None = None,
        dtype: np.dtype | None = None,
    ) -> None:
        """Write the rows as `dest` (through `convert`, into `dtype`, when given)."""
        assert self.dtype is not None  # a table holds at least one row (tables.py checks)
        self.raw.flush()
        shape = (self.count, *self.shape)
        out_dtype = self.dtype if dtype is None else dtype
        raw = np.memmap(self.raw.name, self.dtype, "r", shape=shape)
        with open(dest, "wb") as out:
            header = {
                "descr": np.lib.format.dtype_to_descr(out_dtype),
                "fortran_order": False,
                "shape": shape,
            }
            np.lib.format.write_array_header_1_0(out, header)
            for start in range(0, self.count, _COPY_ROWS):
                rows = np.asarray(raw[start : start + _COPY_ROWS])
                rows = rows if convert is None else convert(rows)
                out.write(np.ascontiguousarray(rows, out_dtype).tobytes())
        del raw
        Path(self.raw.name).unlink()


def _convert(path: Path, target: str | None, out: Path) -> None:
    """Read the table batch by batch into `out`/: inputs, labels (text labels by way of
    ids in order of appearance) and what the target is."""
    out.mkdir()
    names: dict[str, int] = {}
    what = ""
    with open(out / "inputs.raw", "wb") as fx, open(out / "labels.raw", "wb") as fy:
        inputs, labels = _Rows(fx), _Rows(fy)
        for x, y, said in tables.batches(path, target):
            what = said  # every batch says the same
            if y.dtype.kind == "U":
                y = np.array([names.setdefault(v, len(names)) for v in y.tolist()], np.int64)
            inputs.add(x)
            labels.add(y)
        inputs.save(out / INPUTS)
        if names:
            table = np.array(list(names))
            labels.save(out / LABELS, lambda ids: table[ids], table.dtype)
        else:
            labels.save(out / LABELS)
    meta = {"source": str(path), "target": target, "what": what}
    (out / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
