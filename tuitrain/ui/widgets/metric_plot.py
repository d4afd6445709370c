"""A plotext chart that redraws only when its picture changes.

The widget asks its `source` for a `Chart` sized to its current width (at most one point per
column), builds the plotext text once, and keeps it: Textual's repaints reuse the cached text,
and `redraw()` refreshes the screen only when the new text differs from what is shown, so a
steady run costs no terminal bandwidth and a resize rebuilds at the new size."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from tuitrain.ui.charts import Chart

Y_AXIS_WIDTH = 10  # columns plotext spends on the y ticks and the frame
LEGEND_MIN = (56, 14)  # smaller plots leave the legend out: it would cover the data


def fit_title(chart: Chart, width: int) -> str:
    """The title, with its flags when they fit (plotext drops a title wider than the plot)."""
    room = width - 4
    full = f"{chart.title} · {chart.flags}" if chart.flags else chart.title
    if len(full) <= room:
        return full
    return chart.title if len(chart.title) <= room else chart.title[: max(0, room - 1)] + "…"


class MetricPlot(PlotextPlot):
    """One dashboard chart fed by a `source(columns) -> Chart` callable."""

    def __init__(self, source: Callable[[int], Chart], *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source = source
        self._text: Text | None = None
        self._ansi = ""
        self._built_for: tuple[int, int, str] | None = None
        self.builds = 0  # how many times plotext built this chart (tests, benchmarks)
        self.last_chart: Chart | None = None

    @property
    def columns(self) -> int:
        """Decimation columns: each gives at most 2 points, so points <= plot columns."""
        return max(2, (self.size.width - Y_AXIS_WIDTH) // 2)

    def _build(self) -> str:
        width, height = self.size.width, self.size.height
        chart = self.source(self.columns)
        self.last_chart = chart
        plt = self.plt
        plt.clear_data()
        plt.plotsize(width, height)
        plt._set_size(width, height)  # see textual-plotext issue 5: resizing needs both
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        plt.title(fit_title(chart, width))
        plt.yscale("log" if chart.log else "linear")
        if chart.xlim is not None:
            plt.xlim(*chart.xlim)
        else:
            plt.xlim(0, 1)
        if not chart.lines:
            plt.ylim(0, 1)
            plt.text(chart.empty_text, 0.5, 0.5, alignment="center")
        else:
            plt.ylim(None, None)
        legend = width >= LEGEND_MIN[0] and height >= LEGEND_MIN[1]
        for line in chart.lines:
            draw = plt.scatter if line.scatter else plt.plot
            draw(list(line.x), list(line.y), label=(line.label or None) if legend else None,
                 color=line.color, marker=line.marker)
        self.builds += 1
        return plt.build()

    def redraw(self) -> bool:
        """Rebuild for the current data and size; repaint only if the picture changed."""
        if not self.is_mounted or self.size.width < 4 or self.size.height < 3:
            return False
        ansi = self._build()
        self._built_for = (self.size.width, self.size.height, self.app.theme)
        if ansi == self._ansi:
            return False
        self._ansi = ansi
        self._text = Text.from_ansi(ansi)
        self.refresh()
        return True

    def render(self) -> RenderResult:
        key = (self.size.width, self.size.height, self.app.theme)
        if self._text is None or key != self._built_for:
            self._ansi = self._build()
            self._built_for = key
            self._text = Text.from_ansi(self._ansi)
        return self._text
