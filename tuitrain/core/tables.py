"""A person's CSV and Parquet tables, read through pyarrow one record batch at a time: the
numeric feature columns as float32 and the label or target column(s), every cell checked,
with row numbers in errors as a spreadsheet shows them. `core/data.py` joins the batches of a
table that fits in memory; `core/table_cache.py` writes those of a larger one to .npy files.

pyarrow is imported when a table is read, never at module level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tuitrain.core.errors import UserError, one_line, reading

if TYPE_CHECKING:
    import pyarrow as pa

# Columns of a batch: float32 features (rows, columns), the target(s), and what the target is
# ("column 'price'"), for errors.
Columns = tuple[np.ndarray, np.ndarray, str]
_BATCH_ROWS = 65_536  # rows per Parquet batch (a CSV batch is pyarrow's block of 1 MB)


def _numbers(column: pa.ChunkedArray) -> np.ndarray | None:
    """A numeric column as numpy (int64 or float64), or None when it is not numeric."""
    import pyarrow as pa

    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.to_numpy()
    if pa.types.is_decimal(column.type):
        return column.cast(pa.float64(), safe=False).to_numpy()
    return None


def _texts(column: pa.ChunkedArray) -> list[str]:
    """Any column's cells as text, without surrounding whitespace."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.utf8_trim_whitespace(column.cast(pa.string())).to_pylist()


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


def _columns(path: Path, table: pa.Table, target: str | None, first_row: int) -> Columns:
    """Numeric feature columns and the target column(s) of (a batch of) a table read from
    `path`; row numbers in errors count from `first_row`, the number of its first row."""
    header = [name.strip() for name in table.column_names]
    table = table.rename_columns(header)
    wanted = _wanted(header, target)
    for name in wanted:
        if name not in header:
            raise UserError(f"{path}: no column {name!r}; columns: {', '.join(header)}")
    for name in header:
        column = table.column(name)
        if column.null_count:
            row = first_row + column.is_null().to_pylist().index(True)
            raise UserError(
                f"{path}: column {name!r} has an empty cell in row {row}; fill it in or "
                "remove the row"
            )
    features = []
    for name in header:
        if name in wanted:
            continue
        values = _numbers(table.column(name))
        if values is None:
            cells = _texts(table.column(name))
            row, bad = next((i, c) for i, c in enumerate(cells) if _not_a_number(c))
            raise UserError(
                f"{path}: feature column {name!r} is not numeric ({bad!r} in row "
                f"{first_row + row}); use numbers, or make it the target"
            )
        features.append(values.astype(np.float32))
    if not features:
        raise UserError(f"{path}: no feature columns besides the target")
    targets = [_numbers(table.column(n)) for n in wanted]
    if len(wanted) == 1:
        y = targets[0] if targets[0] is not None else np.array(_texts(table.column(wanted[0])))
    elif any(t is None for t in targets):
        raise UserError(f"{path}: several target columns need numbers (regression)")
    else:
        y = np.stack(targets, axis=1)
    return np.stack(features, axis=1), y, f"column {', '.join(wanted)!r}"


def _csv_error(path: Path, exc: Exception, ragged: list) -> UserError:
    """What went wrong reading a CSV file, on one line."""
    if ragged:
        row = ragged[0]
        return UserError(
            f"{path}: row {row.number} has {row.actual_columns} fields; the header has "
            f"{row.expected_columns}"
        )
    if "Empty CSV" in str(exc):  # no bytes, or blank lines only
        return UserError(f"{path}: needs a header row and at least one row of data")
    return UserError(f"{path}: cannot read it ({one_line(exc)})")


def _wanted(header: list[str], target: str | None) -> list[str]:
    """The target column(s): `data.target` (names separated by commas), else the last."""
    return [t.strip() for t in target.split(",")] if target else [header[-1]]


def _csv_tables(path: Path, target: str | None) -> Iterator[tuple[pa.Table, int]]:
    """A CSV file with a header row, in record batches, each with the number of its first
    row. Blank lines are skipped; row numbers count records (the header is row 1), as a
    spreadsheet shows them. One thread, so that the first ragged row is the one reported.
    Column types are inferred from the first batch; feature columns of whole numbers there
    are read as floats, so that a later batch may hold fractions."""
    import pyarrow as pa
    import pyarrow.csv

    ragged: list[pyarrow.csv.InvalidRow] = []

    def refuse(row: pyarrow.csv.InvalidRow) -> str:
        ragged.append(row)
        return "error"

    def open_csv(types: dict[str, pa.DataType]) -> pyarrow.csv.CSVStreamingReader:
        return pyarrow.csv.open_csv(
            path,
            read_options=pyarrow.csv.ReadOptions(use_threads=False),
            parse_options=pyarrow.csv.ParseOptions(invalid_row_handler=refuse),
            convert_options=pyarrow.csv.ConvertOptions(null_values=[""], column_types=types),
        )

    rows = 0
    try:
        first = open_csv({})  # reads the first block, to infer the column types
        schema = first.schema
        first.close()
        wanted = _wanted([name.strip() for name in schema.names], target)
        whole = {
            f.name: pa.float64()
            for f in schema
            if pa.types.is_integer(f.type) and f.name.strip() not in wanted
        }
        for batch in open_csv(whole):
            if batch.num_rows:
                yield pa.Table.from_batches([batch]), 2 + rows
                rows += batch.num_rows
    except Exception as exc:
        raise _csv_error(path, exc, ragged) from None
    if rows == 0:
        raise UserError(f"{path}: needs a header row and at least one row of data")


def _parquet_tables(path: Path) -> Iterator[tuple[pa.Table, int]]:
    """A Parquet file's rows in record batches, each with the number of its first row
    (counted from 1)."""
    import pyarrow as pa
    import pyarrow.parquet

    with reading(path):
        parquet = pyarrow.parquet.ParquetFile(path)
    if parquet.metadata.num_rows == 0:
        raise UserError(f"{path}: holds no rows of data")
    rows = 0
    batches = parquet.iter_batches(batch_size=_BATCH_ROWS)
    while True:
        with reading(path):
            batch = next(batches, None)
        if batch is None:
            return
        yield pa.Table.from_batches([batch]), 1 + rows
        rows += batch.num_rows


def batches(path: Path, target: str | None) -> Iterator[Columns]:
    """The columns of a .csv or .parquet file, one record batch at a time."""
    parquet = path.suffix.lower() == ".parquet"
    tables = _parquet_tables(path) if parquet else _csv_tables(path, target)
    for table, first_row in tables:
        with reading(path):  # e.g. a text column that is not UTF-8
            columns = _columns(path, table, target, first_row)
        yield columns


def read_whole(path: Path, target: str | None) -> Columns:
    """A table that fits in memory: every batch's columns joined."""
    parts = list(batches(path, target))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return x, y, parts[0][2]


def decoded_bytes(path: Path) -> int:
    """About how much memory the table takes as float32 columns: a Parquet file's rows times
    its columns times 4; a CSV file's size on disk (a number and its comma take about as many
    bytes as text as it does as float32)."""
    if path.suffix.lower() != ".parquet":
        return path.stat().st_size
    import pyarrow.parquet

    with reading(path):
        metadata = pyarrow.parquet.ParquetFile(path).metadata
    return metadata.num_rows * metadata.num_columns * 4
