"""Every run in the runs folder as a table row, newest first: status (coloured), run id,
epochs, best value, preset, framework, device and start time. Space marks rows for an
overlay; rows are updated in place so the cursor stays on its run while runs change."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from tuitrain.ui.table_widths import fit_columns

COLUMNS: tuple[tuple[str, str], ...] = (
    ("mark", " "), ("status", "status"), ("id", "run"), ("epochs", "epochs"), ("best", "best"),
    ("preset", "preset"), ("framework", "framework"), ("device", "device"),
    ("started", "started"),
)
STATUS_STYLES: dict[str, str] = {
    "running": "bold green", "paused": "yellow", "completed": "cyan", "stopped": "yellow",
    "failed": "bold red", "crashed": "magenta", "damaged": "bold red",
}
MARK = "●"


def status_text(status: str) -> Text:
    """A status word in its colour (plain terminals still read the word)."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


class RunsTable(DataTable[Any]):
    """One row per run; `rows` holds the latest listing data by run id."""

    BINDINGS = [  # noqa: RUF012
        Binding("enter", "select_cursor", "Open"),
        Binding("space", "toggle_mark", "Mark"),
    ]

    class MarksChanged(Message):
        """The set of marked runs changed (ids in table order)."""

        def __init__(self, marked: list[str]) -> None:
            super().__init__()
            self.marked = marked

    class Opened(Message):
        """Enter was pressed on a run."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class Highlighted(Message):
        """The cursor moved to another run (None when the table is empty)."""

        def __init__(self, run_id: str | None) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.rows_by_id: dict[str, dict[str, Any]] = {}
        self.marked: set[str] = set()

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def cells(self, row: dict[str, Any]) -> list[Any]:
        """The cells of one listing row, in column order."""
        out: list[Any] = []
        for key, _ in COLUMNS:
            if key == "mark":
                out.append(Text(MARK, style="bold") if row["id"] in self.marked else " ")
            elif key == "status":
                out.append(status_text(str(row.get("status", ""))))
            else:
                out.append(str(row.get(key, "")))
        return out

    @property
    def current(self) -> str | None:
        """The run id under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    def ordered_ids(self) -> list[str]:
        return [str(row.key.value) for row in self.ordered_rows]

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        """Bring the table up to date with a new listing (newest first), keeping the cursor."""
        current = self.current
        new = {str(r["id"]): r for r in rows}
        for run_id in list(self.rows_by_id):
            if run_id not in new:
                self.remove_row(run_id)
                del self.rows_by_id[run_id]
                self.marked.discard(run_id)
        added = False
        for run_id, row in new.items():
            if run_id not in self.rows_by_id:
                self.add_row(*self.cells(row), key=run_id)
                added = True
            elif row != self.rows_by_id[run_id]:
                for (key, _), cell in zip(COLUMNS, self.cells(row), strict=True):
                    self.update_cell(run_id, key, cell)
            self.rows_by_id[run_id] = row
        fit_columns(self, [self.cells(row) for row in self.rows_by_id.values()])
        if added:
            self.sort("id", reverse=True)
            if current in self.rows_by_id:
                self.move_cursor(row=self.get_row_index(current))
            else:
                self.move_cursor(row=0)
            # The row under the cursor may be another run now, with no event from the table.
            self.post_message(self.Highlighted(self.current))

    def _refresh_mark(self, run_id: str) -> None:
        self.update_cell(run_id, "mark", self.cells(self.rows_by_id[run_id])[0])

    def set_marks(self, ids: list[str]) -> None:
        """Mark exactly these runs (those that are listed)."""
        before = set(self.marked)
        self.marked = {i for i in ids if i in self.rows_by_id}
        for run_id in before ^ self.marked:
            self._refresh_mark(run_id)
        self.post_message(self.MarksChanged(self.marked_in_order()))

    def marked_in_order(self) -> list[str]:
        return [i for i in self.ordered_ids() if i in self.marked]

    def action_toggle_mark(self) -> None:
        run_id = self.current
        if run_id is None:
            return
        self.marked ^= {run_id}
        self._refresh_mark(run_id)
        self.post_message(self.MarksChanged(self.marked_in_order()))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        # The run under the cursor now: rows may have been re-sorted since the event was sent.
        self.post_message(self.Highlighted(self.current))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(str(event.row_key.value)))
