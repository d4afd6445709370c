"""Every screen at 80x24 (a default SSH terminal) and the sizes up to 160x48: the status line
and the runs table give way by priority and never cut a word, a plot too small to read is
hidden with a note saying how to show it, and the layout follows a resize."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fake_runs import aio, quiet_env, standard_runs, until
from test_ui_dashboard import started, write_run
from textual.pilot import Pilot
from textual.widgets import Static

from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.fit_width import Piece, fit_pieces, shorten
from tuitrain.ui.screens.dashboard import PLOT_MIN, DashboardScreen, plots_layout
from tuitrain.ui.screens.runs import TABLE_MIN, RunsScreen
from tuitrain.ui.state import RunState
from tuitrain.ui.widgets.epoch_table import fit_columns as fit_epoch_columns
from tuitrain.ui.widgets.metric_plot import MetricPlot
from tuitrain.ui.widgets.overlay_plot import MIN_HEIGHT, OverlayPlot, epoch_ticks
from tuitrain.ui.widgets.runs_table import RunsTable, plan_columns, renderings
from tuitrain.ui.widgets.status_bar import StatusBar, status_text

SIZES = [(80, 24), (100, 30), (120, 36), (160, 48)]
ERROR = "out of memory (OutOfMemoryError); try a smaller batch, e.g. --batch-size 16"


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def whole_words(shown: str, full: str) -> bool:
    """Every word of `shown` is a word of `full` (a cut one ends in `…` and starts one)."""
    words = set(re.split(r"[\s·:();,]+", full))
    for word in re.split(r"[\s·:();,]+", shown):
        if word and word not in words and not (word.endswith("…") and word[:-1] in words):
            return False
    return True


# ----- pure pieces --------------------------------------------------------------------------
def test_fit_pieces_gives_way_least_important_first() -> None:
    pieces = {"a": Piece((10,), droppable=False), "b": Piece((8, 3)), "c": Piece((6,))}
    assert fit_pieces(pieces, ["c", "b"], room=40, gap=1) == {"a": 0, "b": 0, "c": 0}
    assert fit_pieces(pieces, ["c", "b"], room=19, gap=1) == {"a": 0, "b": 0}  # c goes first
    assert fit_pieces(pieces, ["c", "b"], room=14, gap=1) == {"a": 0, "b": 1}
    assert fit_pieces(pieces, ["c", "b"], room=12, gap=1) == {"a": 0}
    assert fit_pieces(pieces, ["c", "b"], room=5, gap=1) == {"a": 0}  # a stays: caller cuts


def test_shorten_cuts_at_a_word() -> None:
    assert shorten("out of memory now", 40) == "out of memory now"
    assert shorten("out of memory now", 15) == "out of memory…"
    assert shorten("out of memory now", 8) == "out of…"
    assert shorten("supercalifragilistic", 6) == "super…"  # one long word: nothing else fits


@pytest.mark.parametrize("width", [30, 50, 60, 80, 100, 160])
@pytest.mark.parametrize("error", ["", ERROR])
def test_status_line_fits_and_keeps_whole_words(width: int, error: str) -> None:
    state = RunState(run_id="20231114-221320-mlp-moons-torch")
    state.start(started(10, 40))
    state.loaded, state.error = 1.0, error
    full = status_text(state, state.first_time).plain
    shown = status_text(state, state.first_time, width).plain
    assert len(shown) <= width
    assert shown.startswith("● running  00:00"), "status and elapsed always stay"
    assert whole_words(shown, full), shown
    if error:
        assert "  out of" in shown, "the error stays (cut at a word) before the facts"


def test_status_line_drops_the_run_id_first_then_precision() -> None:
    state = RunState(run_id="20231114-221320-mlp-moons-torch")
    state.start(started(10, 40))
    state.loaded = 1.0
    full = status_text(state, state.first_time).plain
    assert full.endswith("fp32 · 1,218 params · 20231114-221320-mlp-moons-torch")
    assert status_text(state, state.first_time, len(full)).plain == full
    shorter = status_text(state, state.first_time, len(full) - 1).plain
    assert "mlp-moons-torch" not in shorter and "fp32" in shorter
    at_80 = status_text(state, state.first_time, 78).plain  # 80 less the padding
    assert "fp32" not in at_80 and "1,218 params" in at_80 and "cpu: CPU (2 threads)" in at_80


def test_runs_table_keeps_the_columns_that_matter_most(tmp_path: Path) -> None:
    from tuitrain.core.rundir import list_runs
    from tuitrain.core.runs_index import run_row

    standard_runs(tmp_path)
    rows = [run_row(run) for run in list_runs(tmp_path)]
    assert list(plan_columns(rows, 200)) == [
        "mark",
        "status",
        "id",
        "epochs",
        "best",
        "preset",
        "framework",
        "device",
        "started",
    ]
    at_100 = plan_columns(rows, 98)
    assert list(at_100) == ["mark", "status", "id", "epochs", "best", "started"]
    assert at_100["started"] == 1 and at_100["best"] == 0, "`01-01 00:05`, `val_accuracy …`"
    at_80 = plan_columns(rows, 78)
    assert list(at_80) == ["mark", "status", "id", "epochs", "best"]
    assert at_80["best"] == 1 and at_80["id"] == 0, "`val_acc 0.9200`, the whole run id"
    narrow = plan_columns(rows, 50)
    assert list(narrow) == ["mark", "status", "id"] and narrow["id"] == 1


def test_sweep_trials_show_their_settings_until_the_best_value_needs_the_room() -> None:
    rows = [{"id": f"20260101-00000{n}-mlp-moons-torch", "status": "completed",
             "epochs": "5/5", "best": "val_accuracy 0.9100", "preset": "mlp-moons",
             "framework": "torch", "started": "2026-01-01 00:00", "sweep": "20260101-000000-s",
             "settings": f"optimizer.lr=0.00{n} train.batch_size=64"} for n in (1, 3)]
    wide = plan_columns(rows, 200)
    assert "settings" in wide and wide["settings"] == 0
    assert renderings("settings", rows[0]["settings"])[1] == "lr=0.001 batch_size=64"
    at_120 = plan_columns(rows, 118)
    assert list(at_120) == ["mark", "status", "id", "epochs", "best", "settings"]
    assert at_120["settings"] == 0
    at_100 = plan_columns(rows, 98)
    assert "settings" not in at_100 and at_100["best"] == 0
    assert "settings" not in plan_columns([{**r, "settings": ""} for r in rows], 200)


def test_epoch_table_keeps_the_validation_columns() -> None:
    keys = ["loss", "val_loss", "accuracy", "val_accuracy", "f1", "lr"]
    assert fit_epoch_columns(keys, "accuracy", 200) == [*keys, "time"]
    assert fit_epoch_columns(keys, "accuracy", 75) == [*keys[:4], "lr", "time"]  # f1 goes
    assert fit_epoch_columns(keys, "accuracy", 65) == [*keys[:4], "lr"]  # then time
    assert fit_epoch_columns(keys, "accuracy", 44) == ["loss", "val_loss", "val_accuracy"]
    assert fit_epoch_columns(["loss", "val_loss", "lr"], "loss", 20) == ["val_loss"]


def test_plot_layout_by_terminal_size() -> None:
    assert plots_layout(160, 48, False)[:3] == ("both", 2, 2)
    assert plots_layout(120, 36, False)[:3] == ("both", 2, 2)
    assert plots_layout(100, 30, False)[:3] == ("both", 2, 2)
    view, columns, rows, note = plots_layout(80, 24, False)
    assert (view, columns, rows) == ("both", 2, 1)
    assert note.startswith("lr and throughput plots hidden") and "press t" in note
    assert plots_layout(80, 24, True)[:3] == ("plots", 2, 2)  # t: all four, no table
    assert plots_layout(160, 48, True)[:3] == ("table", 0, 0)  # t: the table alone
    view, _, rows, note = plots_layout(80, 18, False)
    assert rows == 0 and note.startswith("plots hidden: terminal too small")
    assert plots_layout(56, 24, False)[1:3] == (1, 1)  # one column: the loss alone


def test_overlay_ticks_stand_apart() -> None:
    assert epoch_ticks(5, 40) == [1, 2, 3, 4, 5]
    assert epoch_ticks(5, 35) == [1, 3, 5]
    ticks = epoch_ticks(231, 35)
    assert ticks[0] == 1 and len(ticks) <= 35 // 8
    assert epoch_ticks(1, 35) == [1]


# ----- the app at each size -------------------------------------------------------------
async def dash_ready(pilot: Pilot[Any]) -> DashboardScreen:
    dash = pilot.app.screen
    assert isinstance(dash, DashboardScreen)
    await until(pilot, lambda: dash.settled, timeout=20)
    return dash


def check_dashboard(dash: DashboardScreen, width: int) -> list[MetricPlot]:
    """Shown plots are at least PLOT_MIN; the status line fits; a note iff plots are hidden."""
    shown = [p for p in dash.query(MetricPlot) if p.display and not dash.has_class("-no-plots")]
    for plot in shown:
        assert plot.size.width >= PLOT_MIN[0] and plot.size.height >= PLOT_MIN[1], plot.size
    bar = dash.query_one(StatusBar)
    assert bar.state is not None
    line = status_text(bar.state, None, bar.content_size.width).plain
    assert len(line) <= width - 2 and whole_words(line, status_text(bar.state).plain)
    note = dash.query_one("#plots-note", Static)
    assert note.display == (len(shown) < 4 or dash.view == "plots")
    table = dash.table
    if table.display and dash.query_one("#bottom").display:
        used = sum(column.get_render_width(table) for column in table.columns.values())
        assert used <= table.size.width - table.styles.scrollbar_size_vertical
        assert {"val_loss", "val_accuracy"} <= set(table.shown), "validation stays in view"
    return shown


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@aio
async def test_dashboard_at_each_size(tmp_path: Path, size: tuple[int, int]) -> None:
    run = write_run(tmp_path, epochs=3, end="failed", error=ERROR)
    app = TuitrainApp(tmp_path, watch=run)
    async with app.run_test(size=size) as pilot:
        dash = await dash_ready(pilot)
        shown = check_dashboard(dash, size[0])
        assert len(shown) == (2 if size == (80, 24) else 4)
        assert all(p.last_chart is not None and p.last_chart.points for p in shown)


@aio
async def test_dashboard_t_and_resize(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path, watch=write_run(tmp_path, epochs=3))
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await dash_ready(pilot)
        assert [p.id for p in check_dashboard(dash, 80)] == ["plot-loss", "plot-metric"]
        await pilot.press("t")  # too small for all four beside the table: plots instead
        await pilot.pause(0.1)
        assert dash.view == "plots" and not dash.query_one("#bottom").display
        assert len(check_dashboard(dash, 80)) == 4
        assert "epoch table hidden" in str(dash.query_one("#plots-note", Static).render())
        await pilot.press("t")
        await pilot.pause(0.1)
        assert dash.view == "both" and dash.query_one("#bottom").display
        await pilot.resize_terminal(80, 16)  # too short for any plot: a note, the table
        await pilot.pause(0.2)
        assert dash.has_class("-no-plots") and dash.query_one("#plots-note").display
        await pilot.resize_terminal(160, 48)
        await pilot.pause(0.2)
        assert len(check_dashboard(dash, 160)) == 4
        assert not dash.query_one("#plots-note").display
        await pilot.press("t")  # with room for everything, t hides the plots
        await pilot.pause(0.1)
        assert dash.view == "table" and dash.has_class("-no-plots")


@pytest.fixture
def runs_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    quiet_env(monkeypatch, tmp_path)
    standard_runs(tmp_path / "runs")
    return tmp_path / "runs"


MARKS = ["20260101-000000-mlp-moons-torch", "20260101-000500-mlp-moons-tensorflow"]


@pytest.mark.parametrize("size", SIZES, ids=size_id)
@aio
async def test_runs_screen_at_each_size(runs_dir: Path, size: tuple[int, int]) -> None:
    app = TuitrainApp(runs_dir)
    async with app.run_test(size=size) as pilot:
        app.show("runs")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, RunsScreen)
                and app.screen.query(RunsTable)
                and app.screen.table.row_count == 5
            ),
        )
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.table
        used = sum(column.get_render_width(table) for column in table.columns.values())
        assert used <= table.size.width - table.styles.scrollbar_size_vertical
        assert {"mark", "status", "id", "epochs", "best"} <= set(table.plan)
        screen.table.set_marks(MARKS)
        loss = screen.query_one("#overlay-loss", OverlayPlot)
        await until(pilot, lambda: len(loss.series) == 2)
        await pilot.pause(0.2)
        assert loss.size.height >= MIN_HEIGHT and table.size.height >= TABLE_MIN
        assert screen.query_one("#overlay-legend").display
        assert not screen.query_one("#overlay-note").display
        await pilot.resize_terminal(size[0], 20)  # too short for readable overlay plots
        await pilot.pause(0.3)
        assert screen.query_one("#overlay-note").display
        assert not loss.display or not screen.query_one("#overlay-plots").display
        await pilot.resize_terminal(*size)
        await pilot.pause(0.3)
        assert screen.query_one("#overlay-plots").display and loss.size.height >= MIN_HEIGHT
