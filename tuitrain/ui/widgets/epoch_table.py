"""The per-epoch table: train and validation values, learning rate, time; the best epoch
starred (the epoch whose checkpoint is `best`). It holds the latest `KEEP` epochs and the
best one, so a run of a hundred thousand epochs costs what a run of `KEEP` does; in a narrow
terminal the columns that matter least are left out (`fit_columns`)."""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from tuitrain.ui.fit_width import Piece, fit_pieces

if TYPE_CHECKING:
    from tuitrain.core.history import EpochRow

BEST = "★"
WIDTH = 9  # a %.4g number: sign, 4 digits, point, exponent
KEEP = 500  # rows shown: the latest epochs (and the best one, when it is older)
PADDING = 2  # a DataTable cell's padding, one each side


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def header(key: str) -> str:
    """Short headers, so that loss and validation fit at 80 columns."""
    return key.replace("accuracy", "acc").replace("samples_per_sec", "samples/s")


def columns_for(metrics: list[str], metric: str) -> list[str]:
    """Metric columns in reading order: loss, val_loss, the main metric and its val, the
    rest, and lr last."""
    first = ["loss", "val_loss", metric, f"val_{metric}"]
    ordered = [k for k in dict.fromkeys(first) if k in metrics]
    rest = [k for k in metrics if k not in ordered and k != "lr"]
    return ordered + rest + (["lr"] if "lr" in metrics else [])


def fit_columns(keys: list[str], metric: str, room: int) -> list[str]:
    """The metric columns (and `time`) shown in `room` cells, in reading order: the extra
    metrics give way first, then time, lr, the train metric and the train loss; the
    validation loss and metric stay."""
    pieces = {"epoch": Piece((5 + PADDING,), droppable=False),
              "best": Piece((1 + PADDING,), droppable=False)}
    for k in keys:
        pieces[k] = Piece((max(len(header(k)), WIDTH) + PADDING,),
                          droppable=not k.startswith("val_"))
    pieces["time"] = Piece((7 + PADDING,))
    first = [k for k in dict.fromkeys(("loss", metric, "lr", "time")) if k in pieces]
    rest = [k for k in reversed(keys) if k not in first and not k.startswith("val_")]
    chosen = fit_pieces(pieces, rest + first[::-1], room, gap=0)
    return [k for k in [*keys, "time"] if k in chosen]


class EpochTable(DataTable[Text | str]):
    """The latest `KEEP` finished epochs, and the best one (starred) wherever it is: memory
    and repaint cost stay the same however long the run. Rows are queued as they are read
    (`queue`, bounded too) and join the table in batches (`flush`)."""

    def __init__(self, metric: str = "loss", *, id: str | None = None) -> None:
        super().__init__(id=id, zebra_stripes=True, cursor_type="row", show_cursor=False)
        self.metric = metric
        self.keys: list[str] = []  # every metric column, in reading order
        self.shown: list[str] = []  # those that fit the width, and `time`
        self.best: EpochRow | None = None
        self.latest: deque[EpochRow] = deque(maxlen=KEEP)  # the rows shown, but the best
        self.epochs_seen = 0
        self._queued: deque[EpochRow] = deque(maxlen=KEEP)
        self._queued_best: EpochRow | None = None
        self._queued_count = 0
        self.border_title = "epochs"

    @property
    def best_epoch(self) -> int | None:
        return None if self.best is None else self.best.epoch

    @property
    def queued(self) -> bool:
        """Whether rows wait for the next `flush`."""
        return self._queued_count > 0

    def _setup(self, row: EpochRow) -> None:
        self.keys = columns_for(list(row.metrics), self.metric)
        self._add_columns()

    def _room(self) -> int:
        """Cells the columns may take: the width less a vertical scrollbar's."""
        if not self.size.width:
            return 10**6  # not laid out yet: every column (a resize fits them again)
        return max(1, self.size.width - self.styles.scrollbar_size_vertical)

    def _add_columns(self) -> None:
        self.shown = fit_columns(self.keys, self.metric, self._room())
        self.add_column("epoch", key="epoch", width=5)
        self.add_column(BEST, key="best", width=1)
        for k in self.shown:
            label = "time" if k == "time" else header(k)
            width = 7 if k == "time" else max(len(label), WIDTH)
            self.add_column(Text(label, justify="right"), key=k, width=width)

    def on_resize(self) -> None:
        if self.keys and fit_columns(self.keys, self.metric, self._room()) != self.shown:
            self.clear(columns=True)
            self._add_columns()
            self._rebuild()
            self.scroll_end(animate=False)

    def queue(self, row: EpochRow) -> None:
        """Take a finished epoch; it shows at the next `flush` (older queued rows that would
        not be kept are let go at once)."""
        self._queued.append(row)
        self._queued_count += 1
        if row.is_best:
            self._queued_best = row

    def add_epochs(self, rows: list[EpochRow]) -> None:
        """Queue `rows` and show them."""
        for row in rows:
            self.queue(row)
        self.flush()

    def flush(self) -> None:
        """Show the queued rows (one repaint for the batch): the oldest rows make room, the
        star moves to the best epoch, the newest stays in view."""
        if not self._queued_count:
            return
        rows = list(self._queued)
        if not self.columns:
            self._setup(rows[0])
        old_best = self.best
        self.best = self._queued_best or self.best
        self.epochs_seen += self._queued_count
        gone = list(self.latest)[: max(0, len(self.latest) + len(rows) - KEEP)]
        self.latest.extend(rows)
        self._queued.clear()
        self._queued_best, self._queued_count = None, 0
        best_missing = (self.best is not None and str(self.best.epoch) not in self.rows
                        and all(row is not self.best for row in rows))
        if len(gone) > KEEP // 4 or best_missing:  # many rows go, or the best went already
            self._rebuild()
        else:
            for row in gone:
                if row is not self.best:
                    self.remove_row(str(row.epoch))
            if (old_best is not None and old_best is not self.best
                    and str(old_best.epoch) in self.rows):
                if old_best.epoch < self.latest[0].epoch:  # kept only for being the best
                    self.remove_row(str(old_best.epoch))
                else:
                    self.update_cell(str(old_best.epoch), "best", "")
            for row in rows:
                self.add_row(*self._cells(row), key=str(row.epoch))
        self._show_count()
        self.scroll_end(animate=False)

    def _rebuild(self) -> None:
        """All rows anew: the best (when older than the latest) and the latest."""
        self.clear()
        if self.best is not None and self.best.epoch < self.latest[0].epoch:
            self.add_row(*self._cells(self.best), key=str(self.best.epoch))
        for row in self.latest:
            self.add_row(*self._cells(row), key=str(row.epoch))

    def _cells(self, row: EpochRow) -> list[Text | str]:
        star: Text | str = Text(BEST, "bold green") if row is self.best else ""
        cells: list[Text | str] = [Text(str(row.epoch), justify="right"), star]
        cells += [Text(f"{row.seconds:.1f}s" if k == "time" else _fmt(row.metrics.get(k)),
                       justify="right") for k in self.shown]
        return cells

    def _show_count(self) -> None:
        if self.epochs_seen > len(self.latest):
            self.border_title = (f"epochs · the best and the last {len(self.latest):,} "
                                 f"of {self.epochs_seen:,}")
