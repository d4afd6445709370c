"""`dataset_info`: what any `DataSpec` holds, before training. Built-in sets are answered from
the catalogue (`core/datasets.py`) without numpy, which the setup screen needs before its first
frame; a person's own file is read (and cached) by the loaders in `core/data.py`, imported only
then. This module sits above both, so the catalogue never imports the loaders."""

from __future__ import annotations

from tuitrain.core.catalog import Task
from tuitrain.core.datasets import BUILTIN, DatasetInfo, builtin_info, generated_names
from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec


def dataset_info(data: DataSpec, task: Task | None = None) -> DatasetInfo:
    """What `data` holds, cheaply: built-ins load nothing; user files are read (and cached)."""
    entry = BUILTIN.get(data.dataset)
    if entry is not None:
        return builtin_info(entry, data, task)
    if data.digits is not None:
        raise UserError(
            f"data.digits is a setting of generated tasks ({', '.join(generated_names())}); "
            "a data file has none"
        )
    from tuitrain.core.data import user_data

    return user_data(data, task)[0]
