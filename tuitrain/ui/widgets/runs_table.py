"""Runs as table rows, in the order given (the runs screen sorts and filters): status
(coloured, with alerts), run id, epochs, best value, preset, framework, device, start time,
and sweep, a sweep trial's settings and tags where runs have them; in a narrow terminal the
least important columns are abbreviated, then dropped (`plan_columns`). Space marks rows
for an overlay; the cursor stays on its run while runs change."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from tuitrain.ui.fit_width import Piece, fit_pieces, shorten
from tuitrain.ui.table_widths import fit_columns

COLUMNS: tuple[tuple[str, str], ...] = (
    ("mark", " "), ("status", "status"), ("id", "run"), ("epochs", "epochs"), ("best", "best"),
    ("preset", "preset"), ("framework", "framework"), ("device", "device"),
    ("started", "started"), ("sweep", "sweep"), ("settings", "settings"), ("tags", "tags · note"),
)
OPTIONAL = ("sweep", "settings", "tags")  # shown only when some run has one
# Columns that give way when the table is narrower than its rows, least important first
# (preset and framework are in a default run id too); the mark, status and run id stay.
GIVE_WAY = ("device", "sweep", "preset", "framework", "tags", "started", "settings", "best",
            "epochs", "id")
KEPT = ("mark", "status", "id")
ID_SHORT = 20  # a cut run id keeps its time stamp: `20260101-000000-mlp-…`
PADDING = 2  # a DataTable cell's padding, one each side
STATUS_STYLES: dict[str, str] = {
    "queued": "blue", "running": "bold green", "paused": "yellow", "completed": "cyan",
    "stopped": "yellow", "failed": "bold red", "crashed": "magenta", "damaged": "bold red",
}
MARK = "●"


def status_label(row: dict[str, Any]) -> str:
    """The status, and `⚠N` after it for a run that raised N alerts."""
    alerts = row.get("alerts")
    return str(row.get("status", "")) + (f" ⚠{alerts}" if alerts else "")


def cell_text(row: dict[str, Any], key: str) -> str:
    """A listing value as text: the status with its alerts, tags with the note."""
    if key == "status":
        return status_label(row)
    if key == "tags":
        tags, note = ",".join(row.get("tags") or []), row.get("note") or ""
        return " · ".join(t for t in (tags, note) if t)
    return str(row.get(key, ""))


def status_text(status: str) -> Text:
    """A status word in its colour (plain terminals still read the word)."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def renderings(key: str, value: str) -> tuple[str, ...]:
    """A listing value as its column shows it, widest first: `val_accuracy 0.9812`,
    `val_acc 0.9812`, `0.9812`; `2026-01-01 00:00`, `01-01 00:00`; a run id cut to its
    time stamp and the start of its name."""
    if key == "best" and value:
        short = value.replace("accuracy", "acc")
        return tuple(dict.fromkeys((value, short, value.rsplit(" ", 1)[-1])))
    if key == "started" and len(value) == len("2026-01-01 00:00"):
        return value, value[5:]
    if key in ("id", "sweep", "tags") and len(value) > ID_SHORT:
        return value, shorten(value, ID_SHORT)
    if key == "settings":  # `optimizer.lr=0.003 train.batch_size=64` -> `lr=0.003 batch_size=64`
        return tuple(dict.fromkeys((value, re.sub(r"[\w.]*\.(\w+=)", r"\1", value))))
    return (value,)


def plan_columns(rows: list[dict[str, Any]], room: int) -> dict[str, int]:
    """The columns that fit `room` cells, each with its rendering (see `renderings`)."""
    pieces = {}
    for key, label in COLUMNS:
        if key in OPTIONAL and not any(cell_text(row, key) for row in rows):
            continue
        if key == "mark":
            widths = [1]
        else:
            options = [renderings(key, cell_text(row, key)) for row in rows]
            depth = max((len(o) for o in options), default=1)
            widths = [max([len(label)] + [len(o[min(i, len(o) - 1)]) for o in options])
                      for i in range(depth)]
        pieces[key] = Piece(tuple(w + PADDING for w in widths), droppable=key not in KEPT)
    return fit_pieces(pieces, [k for k in GIVE_WAY if k in pieces], room, gap=0)


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
        self.plan: dict[str, int] = {}  # shown columns and their renderings

    def cells(self, row: dict[str, Any]) -> list[Any]:
        """The cells of one listing row, in the order of the shown columns."""
        out: list[Any] = []
        for key, variant in self.plan.items():
            if key == "mark":
                out.append(Text(MARK, style="bold") if row["id"] in self.marked else " ")
            elif key == "status":
                cell = status_text(str(row.get("status", "")))
                out.append(cell.append(status_label(row)[len(cell.plain):], style="bold yellow"))
            else:
                options = renderings(key, cell_text(row, key))
                out.append(options[min(variant, len(options) - 1)])
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

    def _room(self) -> int:
        """Cells the columns may take: the width less a vertical scrollbar's."""
        if not self.size.width:
            return 10**6  # not laid out yet: every column (a resize plans again)
        return max(1, self.size.width - self.styles.scrollbar_size_vertical)

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        """Bring the table up to date with a new listing, keeping the cursor on its run:
        cells change in place; new or removed runs, or other columns, rebuild it (newest
        first)."""
        new = {str(r["id"]): r for r in rows}
        self.marked &= set(new)
        plan = plan_columns(list(new.values()), self._room())
        if plan != self.plan or list(new) != list(self.rows_by_id):
            self._rebuild(new, plan)
            return
        for run_id, row in new.items():
            if row != self.rows_by_id[run_id]:
                for key, cell in zip(self.plan, self.cells(row), strict=True):
                    self.update_cell(run_id, key, cell)
        self.rows_by_id = new
        fit_columns(self, [self.cells(row) for row in new.values()])

    def _rebuild(self, rows: dict[str, dict[str, Any]], plan: dict[str, int]) -> None:
        current, index = self.current, self.cursor_row
        self.rows_by_id, self.plan = rows, plan
        self.clear(columns=True)
        labels = dict(COLUMNS)
        for key in plan:
            self.add_column(labels[key], key=key)
        for run_id, row in rows.items():
            self.add_row(*self.cells(row), key=run_id)
        fit_columns(self, [self.cells(row) for row in rows.values()])
        if self.row_count:
            row = self.get_row_index(current) if current in rows else min(index, self.row_count - 1)
            self.move_cursor(row=max(0, row))
        if self.current != current:  # another run is under the cursor, with no event
            self.post_message(self.Highlighted(self.current))

    def on_resize(self) -> None:
        if self.rows_by_id and plan_columns(list(self.rows_by_id.values()),
                                            self._room()) != self.plan:
            self.show_rows(list(self.rows_by_id.values()))

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
