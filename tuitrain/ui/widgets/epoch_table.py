"""The per-epoch table: train and validation values, learning rate, time; the best epoch
starred (the epoch whose checkpoint is `best`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

if TYPE_CHECKING:
    from tuitrain.core.history import EpochRow

BEST = "★"
WIDTH = 9  # a %.4g number: sign, 4 digits, point, exponent


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


class EpochTable(DataTable[Text | str]):
    """One row per finished epoch, the latest one in view, the best one marked."""

    def __init__(self, metric: str = "loss", *, id: str | None = None) -> None:
        super().__init__(id=id, zebra_stripes=True, cursor_type="row", show_cursor=False)
        self.metric = metric
        self.keys: list[str] = []
        self.best_epoch: int | None = None

    def _setup(self, row: EpochRow) -> None:
        self.keys = columns_for(list(row.metrics), self.metric)
        self.add_column("epoch", key="epoch", width=5)
        self.add_column(BEST, key="best", width=1)
        for k in self.keys:
            label = header(k)
            self.add_column(Text(label, justify="right"), key=k, width=max(len(label), WIDTH))
        self.add_column(Text("time", justify="right"), key="time", width=7)

    def add_epoch(self, row: EpochRow) -> None:
        self.add_epochs([row])

    def add_epochs(self, rows: list[EpochRow]) -> None:
        """Append rows (one repaint for the batch), move the star, keep the newest in view."""
        if not rows:
            return
        if not self.columns:
            self._setup(rows[0])
        best = self.best_epoch
        for row in rows:
            cells: list[Text | str] = [Text(str(row.epoch), justify="right"), ""]
            cells += [Text(_fmt(row.metrics.get(k)), justify="right") for k in self.keys]
            cells += [Text(f"{row.seconds:.1f}s", justify="right")]
            self.add_row(*cells, key=str(row.epoch))
            if row.is_best:
                best = row.epoch
        if best != self.best_epoch:
            if self.best_epoch is not None and str(self.best_epoch) in self.rows:
                self.update_cell(str(self.best_epoch), "best", "")
            self.best_epoch = best
            self.update_cell(str(best), "best", Text(BEST, "bold green"))
        self.scroll_end(animate=False)
