"""Drawing a chart: the picture has the plot's size, lines are continuous braille, spikes and
NaN markers are on it, the legend and empty text show, ticks are labelled as plotext labels
them; and the plot widget draws again only when its chart, size or theme changed."""

from __future__ import annotations

import asyncio
import math

import pytest
from rich.color import Color
from textual.app import App, ComposeResult

from tuitrain.ui.chart_render import Palette, render_chart, tick_labels
from tuitrain.ui.charts import Chart, Line
from tuitrain.ui.widgets.metric_plot import MetricPlot

PALETTE = Palette(Color.parse("#101010"), Color.parse("#e0e0e0"))
W, H = 60, 20


def text_of(chart: Chart, width: int = W, height: int = H, legend: bool = True) -> list[str]:
    strips = render_chart(chart, width, height, PALETTE, legend=legend)
    assert len(strips) == height
    assert all(s.cell_length == width for s in strips)
    return [s.text for s in strips]


def canvas(rows: list[str]) -> list[str]:
    """The cells inside the frame (between the top and bottom frame rows and the two sides)."""
    top = next(i for i, r in enumerate(rows) if "┌" in r)
    bottom = next(i for i, r in enumerate(rows) if "└" in r)
    left, right = rows[top].index("┌"), rows[top].index("┐")
    return [r[left + 1:right] for r in rows[top + 1:bottom]]


def is_braille(c: str) -> bool:
    return 0x2801 <= ord(c) <= 0x28FF


def test_a_rising_line_is_one_continuous_curve_corner_to_corner() -> None:
    line = Line(tuple(float(i) for i in range(11)), tuple(float(i) for i in range(11)), "", "blue")
    cells = canvas(text_of(Chart("rise", (line,), xlim=(0.0, 10.0))))
    assert is_braille(cells[-1][0]) and is_braille(cells[0][-1]), "from corner to corner"
    for col in range(len(cells[0])):  # no gap: every column has a dot of the line
        assert any(is_braille(row[col]) for row in cells), col


def test_a_single_spike_reaches_the_top_row_and_sets_the_top_tick() -> None:
    ys = [1.0] * 200
    ys[101] = 100.0
    line = Line(tuple(float(i) for i in range(200)), tuple(ys), "train", "gray")
    rows = text_of(Chart("loss", (line,), xlim=(0.0, 199.0)), legend=False)
    cells = canvas(rows)
    top = [i for i, c in enumerate(cells[0]) if is_braille(c)]
    assert top and abs(top[0] - len(cells[0]) // 2) <= 2, "the spike is drawn where it is"
    assert rows[2].lstrip().startswith("100"), "the y axis reaches the spike"


def test_nan_markers_legend_and_colours() -> None:
    train = Line((1.0, 2.0, 3.0), (1.0, 2.0, 1.5), "train", "gray")
    smooth = Line((1.0, 2.0, 3.0), (1.2, 1.5, 1.6), "train (smoothed)", "cyan")
    nan = Line((2.0,), (2.0,), "NaN/inf", "red", scatter=True, marker="x")
    chart = Chart("loss", (train, smooth, nan), xlim=(0.0, 3.0))
    strips = render_chart(chart, W, H, PALETTE, legend=True)
    rows = [s.text for s in strips]
    assert "x" in canvas(rows)[0], "NaN marked at the top"
    assert any("⢕⢕ train (smoothed)" in r for r in rows)
    assert any("xx NaN/inf" in r for r in rows)
    colours = {seg.style.color.number for s in strips for seg in s
               if seg.style is not None and seg.style.color is not None
               and seg.style.color.number is not None and seg.text.strip()}
    assert {8, 6, 1} <= colours, "gray envelope, cyan smoothed line, red NaN marks"
    assert not any("train (smoothed)" in r for r in text_of(chart, legend=False))


def test_empty_chart_says_so_and_keeps_its_frame() -> None:
    rows = text_of(Chart("loss", empty_text="waiting for data"))
    assert any("waiting for data" in r for r in rows)
    assert rows[0].strip() == "loss"
    assert any("┌" in r for r in rows) and any("┘" in r for r in rows)


def test_log_scale_ticks_span_the_decades() -> None:
    line = Line((1.0, 2.0, 3.0), (1e-3, 1e-2, 1.0), "", "magenta")
    rows = text_of(Chart("lr", (line,), xlim=(0.0, 3.0), log=True))
    labels = [r.split("┤")[0].strip() for r in rows if "┤" in r]
    assert math.isclose(float(labels[0]), 1.0) and math.isclose(float(labels[-1]), 1e-3)


@pytest.mark.parametrize(("ticks", "labels"), [
    ([0, 250, 500, 750, 1000], ["0", "250", "500", "750", "1000"]),
    ([-0.13, 0.225, 0.58, 0.935, 1.29], ["-0.13", "0.23", "0.58", "0.94", "1.29"]),
    ([0.0001, 0.00058, 0.00107], ["0.00010", "0.00058", "0.00107"]),
])
def test_tick_labels_tell_neighbours_apart(ticks: list[float], labels: list[str]) -> None:
    assert tick_labels(ticks) == labels


def test_tiny_plots_do_not_fail() -> None:
    line = Line((1.0, 2.0), (1.0, 2.0), "train", "blue")
    for w, h in ((4, 3), (8, 5), (12, 4)):
        assert len(render_chart(Chart("t", (line,)), w, h, PALETTE)) == h


class PlotApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.value = 1.0

    def source(self, columns: int) -> Chart:
        line = Line((0.0, 1.0), (0.0, self.value), "train", "blue")
        return Chart(f"loss {self.value}", (line,), xlim=(0.0, 1.0))

    def compose(self) -> ComposeResult:
        yield MetricPlot(self.source, id="plot")


def test_plot_draws_again_only_when_its_chart_or_size_changed() -> None:
    asyncio.run(plot_redraws())


async def plot_redraws() -> None:
    app = PlotApp()
    async with app.run_test(size=(70, 20)) as pilot:
        plot = app.query_one(MetricPlot)
        await pilot.pause()
        assert plot.builds >= 1
        assert any("loss 1.0" in plot.render_line(y).text for y in range(2))
        builds = plot.builds
        assert plot.redraw() is False and plot.builds == builds, "same chart: nothing to do"
        app.value = 2.0
        assert plot.redraw() is True and plot.builds == builds + 1
        assert "loss 2.0" in plot.render_line(0).text
        await pilot.resize_terminal(90, 24)
        await pilot.pause()
        assert plot.render_line(0).cell_length == 90, "a resize draws at the new size"


@pytest.mark.parametrize("height", range(9, 17))
def test_every_y_label_sits_on_the_row_that_draws_its_value(height: int) -> None:
    """Evenly spaced labels, min(7, rows) of them, bottom = minimum and top = maximum; a flat
    line at a label's value is drawn on that label's row (none named after a neighbour)."""
    rise = Line(tuple(float(i) for i in range(50)), tuple(2.11 * i / 49 for i in range(50)),
                "", "blue")
    rows = text_of(Chart("loss", (rise,), xlim=(0.0, 49.0)), height=height)
    labelled = [(i, float(r.split("┤")[0])) for i, r in enumerate(rows) if "┤" in r]
    assert len(labelled) == min(7, height - 4)
    assert labelled[0][1] == pytest.approx(2.11, abs=0.01)
    assert labelled[-1][1] == pytest.approx(0.0, abs=0.01)
    for row, value in labelled:
        flat = Line((0.0, 49.0), (value, value), "", "red")
        drawn = text_of(Chart("loss", (rise, flat), xlim=(0.0, 49.0)), height=height,
                        legend=False)
        right_edge = [r[-2] for r in drawn]  # the last canvas column: only the flat line
        assert is_braille(right_edge[row]) or row == 2, (height, value, rows)


def test_step_axis_ticks_are_whole_numbers() -> None:
    line = Line((0.0, 1000.0, 4699.0), (1.0, 0.5, 0.2), "", "blue")
    rows = text_of(Chart("loss", (line,), xlim=(0.0, 4699.0)), width=80)
    labels = rows[-1].split()
    assert labels[0] == "0" and labels[-1] == "4699"
    assert all(label.isdigit() for label in labels), labels


def test_a_live_change_is_a_dotted_line_under_the_data() -> None:
    flat = Line((0.0, 100.0), (1.0, 1.0), "", "blue")  # along the bottom row
    rows = canvas(text_of(Chart("loss", (flat,), xlim=(0.0, 100.0), markers=(50.0, 500.0))))
    columns = {col for row in rows for col, c in enumerate(row) if c == "┊"}
    assert len(columns) == 1  # the one in range; a marker past the x range is not drawn
    (col,) = columns
    assert abs(col - len(rows[0]) // 2) <= 1
    assert sum(row[col] == "┊" for row in rows) >= len(rows) - 1  # the data draws over it
    assert text_of(Chart("loss", (), markers=(5.0,)))[3].count("┊") == 0  # no data: nothing
