"""Whether a run's data streams (`data.stream`), and a person's own data opened to stream.

- "auto" (the default) streams data whose decoded size (float32 inputs, int64 token ids and
  labels, as the model takes them) exceeds `STREAM_BUDGET`, and any data that is augmented;
  other data is held whole where the model trains, as before.
- "always" streams any data (built-in sets and .npz files, which are loaded whole anyway,
  are served from memory through the same pipeline).
- "never" loads the data whole, and refuses data bigger than the memory this machine has
  available (`MemAvailable` of /proc/meminfo) with a one-line error instead of swapping.

Opened to stream, nothing is decoded: a .npy file and its labels are memory-mapped, an image
folder is scanned (names and headers), a table is converted once into cached .npy files; a
framework's input pipeline then reads each batch (`core/sources.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuitrain.core import image_folder, table_cache, tables
from tuitrain.core.catalog import Task
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.errors import UserError, reading
from tuitrain.core.sources import Streamable
from tuitrain.core.sources_arrays import NPY_KIND, ArrayFile, labels_file
from tuitrain.core.spec import DataSpec

STREAM_BUDGET = 1 << 30  # bytes: "auto" streams data whose decoded size is larger
TABLE_KINDS = {".csv": "CSV file", ".parquet": "Parquet file"}


def decoded_bytes(info: DatasetInfo) -> int:
    """The memory a data set takes as the model takes it: float32 inputs or int64 token ids,
    and int64 labels or float32 targets."""
    per_input = 8 if info.input_dtype == "int64" else 4
    inputs = int(np.prod(info.input_shape, dtype=np.int64)) * per_input
    if info.task == "regression":
        labels = info.num_outputs * 4
    else:
        labels = int(np.prod(info.target_shape, dtype=np.int64)) * 8
    return info.size * (inputs + labels)


def available_memory() -> int | None:
    """Bytes of memory this machine has available (/proc/meminfo), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def streams(data: DataSpec, decoded: int, name: str) -> bool:
    """Whether data of `decoded` bytes streams; with "never", a one-line error when it
    does not fit in the memory available."""
    if data.stream == "never":
        available = available_memory()
        if available is not None and decoded > available:
            raise UserError(
                f"{name}: takes {_size(decoded)} loaded whole, more than the {_size(available)} "
                'of memory available; set data.stream = "auto" to stream it in batches'
            )
        return False
    return data.stream == "always" or bool(data.augment) or decoded > STREAM_BUDGET


def open_user(path: Path, data: DataSpec, task: Task | None) -> Streamable | None:
    """A person's own data (at `path`, which exists) opened to stream, or None when it is
    loaded whole (data of another kind: `core/data.py` reads it, or says it is not
    supported)."""
    suffix = path.suffix.lower()
    if path.is_dir():
        decoded = decoded_bytes(image_folder.scan(path).info(task, data.image_size))
        if not streams(data, decoded, str(path)):
            return None
        return image_folder.StreamedFolder.open(path, task, data.image_size)
    if suffix == ".npy":
        labels = labels_file(path, data.target)
        what = f"labels file {labels.name}"
        opened = ArrayFile.open(path, labels, task, what, NPY_KIND, str(path))
        return opened if streams(data, decoded_bytes(opened.info), str(path)) else None
    if suffix in TABLE_KINDS:
        if not streams(data, tables.decoded_bytes(path), str(path)):
            return None
        files = table_cache.converted(path, data.target)
        kind = TABLE_KINDS[suffix]
        return ArrayFile.open(files.inputs, files.labels, task, files.what, kind, str(path))
    if suffix == ".npz":  # loaded whole: streams() only checks that it fits
        with reading(path):
            streams(data, npz_bytes(path), str(path))
    return None


def npz_bytes(path: Path) -> int:
    """The size of an .npz file's arrays, unpacked."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return sum(member.file_size for member in archive.infolist())
