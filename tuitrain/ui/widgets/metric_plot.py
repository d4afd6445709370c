"""A dashboard chart that redraws only when its picture changes.

The widget asks its `source` for a `Chart` sized to its current width (at most one point per
column), draws it once into lines of styled cells (`chart_render`, numpy: a few milliseconds
for any history length) and keeps them: Textual's repaints reuse the cached lines, and
`redraw()` skips drawing when the chart, size and theme are what is shown, so a steady run
costs no terminal bandwidth and a resize redraws at the new size."""

from __future__ import annotations

from collections.abc import Callable

from rich.color import Color
from textual.strip import Strip
from textual.widget import Widget

from tuitrain.ui.chart_render import Palette, render_chart
from tuitrain.ui.charts import Chart

Y_AXIS_WIDTH = 10  # columns spent on the y ticks and the frame
LEGEND_MIN = (56, 14)  # smaller plots leave the legend out: it would cover the data


def fit_title(chart: Chart, width: int) -> str:
    """The title, with its flags when they fit (a title wider than the plot is cut)."""
    room = width - 4
    full = f"{chart.title} · {chart.flags}" if chart.flags else chart.title
    if len(full) <= room:
        return full
    return chart.title if len(chart.title) <= room else chart.title[: max(0, room - 1)] + "…"


def draw(chart: Chart, width: int, height: int, palette: Palette) -> list[Strip]:
    """The picture the widget shows for `chart` at this size (also what the benchmark times)."""
    legend = width >= LEGEND_MIN[0] and height >= LEGEND_MIN[1]
    return render_chart(chart, width, height, palette, legend=legend,
                        title=fit_title(chart, width))


class MetricPlot(Widget):
    """One dashboard chart fed by a `source(columns) -> Chart` callable."""

    DEFAULT_CSS = """
    MetricPlot {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(self, source: Callable[[int], Chart], *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source = source
        self._strips: list[Strip] = []
        self._built_for: tuple[int, int, str] | None = None
        self.builds = 0  # how many times this chart was drawn (tests, benchmarks)
        self.last_chart: Chart | None = None

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    @property
    def columns(self) -> int:
        """Decimation columns: each gives at most 2 points, so points <= plot columns."""
        return max(2, (self.size.width - Y_AXIS_WIDTH) // 2)

    def _key(self) -> tuple[int, int, str]:
        return self.size.width, self.size.height, self.app.theme

    def _palette(self) -> Palette:
        variables = self.app.theme_variables
        return Palette(Color.parse(variables.get("surface", "#1e1e1e")),
                       Color.parse(variables.get("foreground", "#e0e0e0")))

    def _draw(self, chart: Chart) -> None:
        self.last_chart = chart
        self._built_for = self._key()
        self._strips = draw(chart, self.size.width, self.size.height, self._palette())
        self.builds += 1

    def redraw(self) -> bool:
        """Draw for the current data and size; repaint only if the picture changed."""
        if not self.is_mounted or self.size.width < 4 or self.size.height < 3:
            return False
        chart = self.source(self.columns)
        if chart == self.last_chart and self._built_for == self._key():
            return False
        self._draw(chart)
        self.refresh()
        return True

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._built_for != self._key() and width >= 4 and self.size.height >= 3:
            self._draw(self.source(self.columns))
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)
