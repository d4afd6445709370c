"""The framework comparison as a table: per framework its device, parameters, seconds per
epoch, throughput, final validation loss, main metric, peak memory and status — the same
numbers `tuitrain compare` prints, read from the runs' summaries."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from tuitrain.core.runs_index import COMPARE_HEADER
from tuitrain.ui.table_widths import fit_columns


class CompareTable(DataTable[Any]):
    """Rows from `runs_index.compare_rows`, replaced as the comparison goes on."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, show_cursor=False)

    def on_mount(self) -> None:
        for name in COMPARE_HEADER:
            self.add_column(name, key=name)

    def show(self, rows: list[list[str]]) -> None:
        """Replace the rows."""
        self.clear()
        for row in rows:
            self.add_row(*row)
        fit_columns(self, rows)
