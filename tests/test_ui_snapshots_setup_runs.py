"""Snapshots of the setup screen (160x48, 120x36 and 80x24; a residual network's model tree
at 160x48 and 80x24), the runs screen (80x24) and with an overlay (160x48, 120x36 and 80x24),
and the evaluation screen, over fixed data: shipped presets only, detection faked to one H100,
run folders written here at a fixed path, times in UTC, no wall-clock text.
Update with `pytest tests/test_ui_snapshots_setup_runs.py --snapshot-update` and look."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_runs import eval_report, quiet_env, standard_runs, until
from textual.pilot import Pilot

from tuitrain import backends
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.evaluation import EvaluationScreen
from tuitrain.ui.screens.runs import RunsScreen
from tuitrain.ui.screens.setup import SetupScreen
from tuitrain.ui.widgets.model_summary import ModelSummary
from tuitrain.ui.widgets.overlay_plot import OverlayPlot
from tuitrain.ui.widgets.runs_table import RunsTable
from tuitrain.ui.widgets.settings_table import SettingsTable

WIDE = (160, 48)
MEDIUM = (120, 36)
SMALL = (80, 24)
OVERLAY_MARKS = ("20260101-000000-mlp-moons-torch", "20260101-000500-mlp-moons-tensorflow")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    quiet_env(monkeypatch, tmp_path)
    # The same picture whichever frameworks this machine has.
    monkeypatch.setattr(backends, "is_installed", lambda framework: True)


@pytest.fixture
def fixed_runs(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A runs folder at a fixed path (it is shown on screen), one per test."""
    path = Path("/tmp") / f"tuitrain-snapshot-{request.node.name}"[:80] / "runs"
    shutil.rmtree(path.parent, ignore_errors=True)
    standard_runs(path)
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


async def setup_ready(pilot: Pilot[Any]) -> None:
    """Devices detected, the last check shown."""
    screen = pilot.app.screen
    assert isinstance(screen, SetupScreen)
    await until(pilot, lambda: screen.query(SettingsTable) and screen.table.settings.detected)
    await until(pilot, lambda: screen.result is not None and screen.shown == screen.generation)
    await pilot.pause(0.2)
    await until(pilot, lambda: screen.shown == screen.generation)
    await pilot.pause()


def runs_ready(marks: tuple[str, ...] = ()) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, TuitrainApp)
        app.show("runs")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen)
                    and app.screen.query(RunsTable) and app.screen.table.row_count == 5)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        if marks:
            screen.table.set_marks(list(marks))
            plot = screen.query_one("#overlay-loss", OverlayPlot)
            await until(pilot, lambda: len(plot.series) == len(marks))
        await pilot.pause(0.2)

    return run_before


def test_setup_screen_wide(snap_compare: Any, tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons")
    assert snap_compare(app, terminal_size=WIDE, run_before=setup_ready)


def test_setup_screen_small(snap_compare: Any, tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="lstm-sine")
    assert snap_compare(app, terminal_size=SMALL, run_before=setup_ready)


def test_setup_screen_medium(snap_compare: Any, tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="cnn-digits")
    assert snap_compare(app, terminal_size=MEDIUM, run_before=setup_ready)


def test_setup_screen_invalid_value(snap_compare: Any, tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons", overrides={"train.epochs": 0})
    assert snap_compare(app, terminal_size=WIDE, run_before=setup_ready)


def test_runs_screen_with_overlay(snap_compare: Any, fixed_runs: Path) -> None:
    app = TuitrainApp(fixed_runs)
    assert snap_compare(app, terminal_size=WIDE, run_before=runs_ready(OVERLAY_MARKS))


@pytest.mark.parametrize("size", [MEDIUM, SMALL], ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_screen_with_overlay_at(snap_compare: Any, fixed_runs: Path,
                                     size: tuple[int, int]) -> None:
    app = TuitrainApp(fixed_runs)
    assert snap_compare(app, terminal_size=size, run_before=runs_ready(OVERLAY_MARKS))


def test_runs_screen_small(snap_compare: Any, fixed_runs: Path) -> None:
    app = TuitrainApp(fixed_runs)
    assert snap_compare(app, terminal_size=SMALL, run_before=runs_ready())


def test_evaluation_screen(snap_compare: Any, tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons")

    async def run_before(pilot: Pilot[Any]) -> None:
        await setup_ready(pilot)
        pilot.app.push_screen(EvaluationScreen("20260101-000000-mlp-moons-torch", eval_report()))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=lambda s: f"{s[0]}x{s[1]}")
def test_setup_screen_model_tree(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """A residual network's summary: blocks with their layers on tree branches under them,
    params on every line; in the small terminal, scrolled down to it as a person would."""
    app = TuitrainApp(tmp_path / "runs", preset="resnet-digits")

    async def run_before(pilot: Pilot[Any]) -> None:
        await setup_ready(pilot)
        pilot.app.screen.query_one(ModelSummary).scroll_visible(animate=False, top=True)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
