"""One metric per epoch for several runs on one plotext chart, one labelled line per run —
how frameworks or settings are compared by eye."""

from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Series:
    """One run's line: its legend label and (epoch, value) points."""

    label: str
    points: tuple[tuple[int, float], ...]


class OverlayPlot(PlotextPlot):
    """A titled line chart of per-epoch values; empty series are listed as 'no data'."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart_title = title
        self.series: tuple[Series, ...] = ()

    def on_mount(self) -> None:
        # PlotextPlot's own on_mount runs too (Textual calls each class's handler).
        self.draw()

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
            plt.plot(xs, ys, label=s.label, marker="braille")
        if not drawn:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            plt.text("no epochs recorded yet", 0.5, 0.5, alignment="center")
        else:
            last = max(x for s in drawn for x, _ in s.points)
            plt.xticks(list(range(1, last + 1, max(1, last // 10))))
        self.refresh()
