"""A confusion matrix drawn in the terminal: rows are the true classes, columns the predicted
ones; each cell is shaded by its share of the row (green on the diagonal, red off it), and
the counts stay readable where colours are not available. A matrix too wide to draw (a
character model's 96 classes) is shown as the pairs of classes confused most."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tuitrain.core.evaluation import confused_most, matrix_fits

# Shades from faint to strong; a plain terminal gets the nearest colours or none.
GOOD = ("#0b3d1a", "#14622a", "#1d8a3a", "#27b34b")
BAD = ("#3d0b0b", "#621414", "#8a1d1d", "#b32727")


def shade(count: int, row_total: int, diagonal: bool) -> str:
    """The cell's style: none for zero, else a shade by its fraction of the row."""
    if count == 0 or row_total == 0:
        return "dim"
    fraction = count / row_total
    palette = GOOD if diagonal else BAD
    level = min(len(palette) - 1, int(fraction * len(palette)))
    return f"bold white on {palette[level]}"


def matrix_table(names: Sequence[str], confusion: Sequence[Sequence[int]],
                 max_label: int = 12) -> Table:
    """The matrix as a Rich table, with row totals and recall at the right."""
    width = max(4, *(len(str(v)) for row in confusion for v in row)) if confusion else 4
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("true \\ pred", no_wrap=True, max_width=max_label)
    for name in names:
        table.add_column(name[:width + 2], justify="right", no_wrap=True)
    table.add_column("total", justify="right", style="dim", no_wrap=True)
    for i, (name, row) in enumerate(zip(names, confusion, strict=True)):
        total = sum(row)
        cells = [Text(f"{v:>{width}}", style=shade(v, total, i == j)) for j, v in enumerate(row)]
        table.add_row(name[:max_label], *cells, str(total))
    return table


def confused_table(names: Sequence[str], confusion: Sequence[Sequence[int]]) -> Table:
    """The pairs of classes confused most: true, predicted, samples and share of the true
    class's samples."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for name, justify in (("true", "left"), ("predicted", "left"), ("samples", "right"),
                          ("of true", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for t, p, count in confused_most(confusion):
        share = count / max(1, sum(confusion[t]))
        table.add_row(str(names[t]), str(names[p]), str(count),
                      Text(f"{share:.1%}", style=shade(count, sum(confusion[t]), False)))
    return table


class ConfusionMatrix(Static):
    """Shows a confusion matrix for class names; empty for regression runs."""

    def show(self, names: Sequence[str], confusion: Sequence[Sequence[int]]) -> None:
        if not names or not confusion:
            self.update(Text("no confusion matrix (not a classification run)", style="dim"))
            return
        if not matrix_fits(names, confusion):
            caption = Text(f"confused most · {len(names)} classes: too many to draw the matrix",
                           style="dim")
            self.update(Group(caption, confused_table(names, confusion)))
            return
        caption = Text("confusion matrix · rows: true class · columns: predicted", style="dim")
        self.update(Group(caption, matrix_table(names, confusion)))
