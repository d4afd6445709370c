"""Fixed column widths for DataTables whose rows the code knows in full.

A DataTable measures auto-width columns only when idle; a frame painted before that caches
cells at the header's width, and that picture can stay until the data next changes. Tables
here set each column's width from the header and all cells instead, before any paint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def cell_width(cell: Any) -> int:
    """Terminal cells a table cell takes on one line."""
    return cell_len(cell.plain if isinstance(cell, Text) else str(cell))


def fit_columns(table: DataTable[Any], rows: Iterable[Sequence[Any]]) -> None:
    """Give every column of `table` the width of its widest cell or its header."""
    columns = list(table.ordered_columns)
    widths = [cell_width(c.label) for c in columns]
    for row in rows:
        for i, cell in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], cell_width(cell))
    for column, width in zip(columns, widths, strict=True):
        column.auto_width = False
        column.width = width
    table.refresh()
