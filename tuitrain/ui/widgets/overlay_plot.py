"""One metric per epoch for several runs on one plotext chart, one coloured line per run —
how frameworks or settings are compared by eye. The legend is not drawn inside the plot
(in a small plot it covers the data): `legend_text` gives it as a line of its own, in the
same colours, shared by the plots beside it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual_plotext import PlotextPlot

RGB = tuple[int, int, int]
# Line colours by a run's place among the marked runs (plotext's default sequence in RGB,
# so the legend's colours are exactly the lines').
COLORS: tuple[RGB, ...] = (
    (0, 130, 200), (60, 180, 75), (230, 25, 75), (70, 240, 240), (240, 50, 230),
    (255, 225, 25), (245, 130, 48), (145, 30, 180),
)
TICK_SPACING = 8  # at most one x tick label per this many columns
MIN_HEIGHT = 10  # title, frame, 5 canvas rows, frame, tick labels, axis label


def color_of(index: int) -> RGB:
    return COLORS[index % len(COLORS)]


@dataclass(frozen=True)
class Series:
    """One run's line: its legend label, (epoch, value) points and colour."""

    label: str
    points: tuple[tuple[int, float], ...]
    color: RGB = COLORS[0]


def legend_text(series: list[Series]) -> Text:
    """`━━ label  ━━ label …` in the lines' colours (wraps to more lines if it must)."""
    text = Text()
    for i, s in enumerate(series):
        if i:
            text.append("   ")
        text.append("━━ ", Style(color=f"rgb{s.color}", bold=True))
        text.append(s.label if s.points else f"{s.label} (no data)")
    return text


def epoch_ticks(last: int, width: int) -> list[int]:
    """Whole-epoch x ticks from 1 to `last`, no closer than `TICK_SPACING` columns."""
    count = max(2, min(last, width // TICK_SPACING))
    step = max(1, -(-(last - 1) // (count - 1)))  # ceiling: never more than `count` ticks
    return list(range(1, last + 1, step))


class OverlayPlot(PlotextPlot):
    """A titled line chart of per-epoch values; a plot with no series says so."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart_title = title
        self.series: tuple[Series, ...] = ()

    def on_mount(self) -> None:
        # PlotextPlot's own on_mount runs too (Textual calls each class's handler).
        self.draw()

    def on_resize(self) -> None:
        self.draw()  # the ticks depend on the width

    def set_series(self, title: str, series: list[Series]) -> None:
        """Replace the lines and redraw."""
        self.chart_title = title
        self.series = tuple(series)
        self.draw()

    def draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(self.chart_title)
        plt.xlabel("epoch")
        drawn = [s for s in self.series if s.points]
        for s in drawn:
            xs = [x for x, _ in s.points]
            ys = [y for _, y in s.points]
            plt.plot(xs, ys, color=s.color, marker="braille")
        if not drawn:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            plt.text("no epochs recorded yet", 0.5, 0.5, alignment="center")
        else:
            last = max(x for s in drawn for x, _ in s.points)
            plt.xticks(epoch_ticks(last, self.size.width))
        self.refresh()
