"""`dataset_info`: what any `DataSpec` holds, before training. Built-in sets are answered from
the catalogue (`core/datasets.py`) without numpy, which the setup screen needs before its first
frame, and so is text (its characters are counted in pure Python); a person's other files are
read (and cached) by the loaders in `core/data.py`, imported only then, or, for data that
streams, opened without decoding it (`core/streaming.py`). This module sits above
both, so the catalogue never imports the loaders."""

from __future__ import annotations

from pathlib import Path

from tuitrain.core.catalog import Task
from tuitrain.core.datasets import DatasetInfo, builtin_info, check_own_keys, entry_of
from tuitrain.core.spec import DataSpec


def dataset_info(data: DataSpec, task: Task | None = None) -> DatasetInfo:
    """What `data` holds, cheaply: built-ins load nothing; user files are read (and cached),
    or opened to stream."""
    entry = entry_of(data)
    if entry is not None:
        return builtin_info(entry, data, task)
    if Path(data.dataset).expanduser().is_dir():
        check_own_keys(data, ("image_size",), "an image folder")
    else:
        check_own_keys(data, (), "a data file")
    from tuitrain.core.data import user_info

    return user_info(data, task)
