"""The runs screen in the real app (Pilot, 160x48) over run folders the tests write: every
run listed with its status (a damaged one too), live refresh, the overlay of marked runs,
delete with confirmation (never a live run), resume through the launcher, evaluation, and a
framework comparison's table. Plus the framework-free helpers behind it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_runs import aio, eval_report, quiet_env, record_notes, standard_runs, until, write_run
from rich.console import Console
from stand_in import StandInRunner
from textual.widgets import Input, Static

from tuitrain.core import launch
from tuitrain.core.events import EpochEnd
from tuitrain.core.liveness import Lock
from tuitrain.core.run_meta import read_meta
from tuitrain.core.rundir import RunDir
from tuitrain.core.runs_index import (
    COMPARE_HEADER,
    compare_rows,
    compare_table,
    epoch_curves,
    run_row,
)
from tuitrain.ui import jobs
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.confirm import ConfirmScreen
from tuitrain.ui.screens.dashboard import DashboardScreen
from tuitrain.ui.screens.evaluation import EvaluationScreen
from tuitrain.ui.screens.prompt import PromptScreen
from tuitrain.ui.screens.runs import RunsScreen
from tuitrain.ui.widgets.compare_panel import ComparePanel
from tuitrain.ui.widgets.compare_table import CompareTable
from tuitrain.ui.widgets.confusion_matrix import ConfusionMatrix
from tuitrain.ui.widgets.overlay_plot import OverlayPlot
from tuitrain.ui.widgets.runs_table import RunsTable

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    quiet_env(monkeypatch, tmp_path)


@pytest.fixture
def sleeper() -> Any:
    """A process that is alive while the test runs (a stand-in runner)."""
    proc = StandInRunner()
    yield proc
    proc.close()


async def open_runs(pilot: Any, app: TuitrainApp, count: int) -> RunsScreen:
    """Show the runs screen and wait until it lists `count` runs."""
    app.show("runs")
    await until(pilot, lambda: isinstance(app.screen, RunsScreen))
    screen = app.screen
    assert isinstance(screen, RunsScreen)
    await until(pilot, lambda: screen.query(RunsTable) and screen.table.row_count == count)
    return screen


def status_of(screen: RunsScreen, run_id: str) -> str:
    return str(screen.table.get_cell(run_id, "status"))


async def cursor_to(pilot: Any, screen: RunsScreen, run_id: str) -> None:
    screen.table.focus()
    screen.table.move_cursor(row=screen.table.get_row_index(run_id))
    await until(pilot, lambda: screen.table.current == run_id)
    await pilot.pause()


def detail(screen: RunsScreen) -> str:
    return str(screen.query_one("#run-detail").content)


# --- listing ------------------------------------------------------------------------------


@aio
async def test_every_run_is_listed_with_its_status_and_a_damaged_one_too(tmp_path: Path) -> None:
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        assert screen.table.ordered_ids()[0] == runs["damaged"].id  # newest first
        assert status_of(screen, runs["completed"].id) == "completed"
        assert status_of(screen, runs["stopped"].id) == "stopped"
        assert status_of(screen, runs["failed"].id) == "failed"
        assert status_of(screen, runs["damaged"].id) == "damaged"
        row = screen.table.get_row(runs["stopped"].id)
        assert [str(c) for c in row[2:]] == [
            runs["stopped"].id, "3/10", "val_accuracy 0.7600", "mlp-digits", "torch", "cpu",
            "2026-01-01 00:10"]
        await cursor_to(pilot, screen, runs["damaged"].id)
        assert detail(screen).startswith("damaged:") and "summary.json" in detail(screen)
        await cursor_to(pilot, screen, runs["failed"].id)
        assert "out of memory" in detail(screen)


@aio
async def test_the_list_refreshes_live(tmp_path: Path, sleeper: StandInRunner) -> None:
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, "20260101-000000-mlp-moons-torch")
    app = TuitrainApp(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 1)
        screen.refresh_seconds = 0.2
        live = write_run(runs_dir, "20260101-003000-mlp-moons-torch", status="running", done=2,
                         epochs=5)
        sleeper.hold(live)
        screen.scan()
        await until(pilot, lambda: screen.table.row_count == 2)
        assert status_of(screen, live.id) == "running"
        assert "1 live" in str(screen.query_one("#runs-heading").content)
        summary = live.summary()
        live.write_summary({**summary, "status": "completed", "epochs_completed": 5})
        sleeper.kill()
        sleeper.wait()
        screen.scan()
        await until(pilot, lambda: status_of(screen, live.id) == "completed")
        assert str(screen.table.get_cell(live.id, "epochs")) == "5/5"


# --- overlay ------------------------------------------------------------------------------


@aio
async def test_marking_two_runs_overlays_their_curves(tmp_path: Path) -> None:
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        overlay = screen.query_one("#runs-overlay")
        await cursor_to(pilot, screen, runs["completed"].id)
        await pilot.press("space")
        assert not overlay.display
        await cursor_to(pilot, screen, runs["tf"].id)
        await pilot.press("space")
        loss = screen.query_one("#overlay-loss", OverlayPlot)
        await until(pilot, lambda: len(loss.series) == 2)
        assert overlay.display
        labels = [s.label for s in loss.series]
        assert labels == ["000500 mlp-moons tensorflow", "000000 mlp-moons torch"]
        assert [len(s.points) for s in loss.series] == [5, 5]
        assert loss.series[1].points[0] == (1, pytest.approx(0.7))
        metric = screen.query_one("#overlay-metric", OverlayPlot)
        assert metric.chart_title == "val_accuracy" and len(metric.series) == 2
        await pilot.press("space")  # unmark one: the overlay goes away
        await until(pilot, lambda: not overlay.display)


# --- delete -------------------------------------------------------------------------------


@aio
async def test_delete_asks_first_and_removes_the_folder(tmp_path: Path) -> None:
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        target = runs["stopped"]
        await cursor_to(pilot, screen, target.id)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        assert target.path.exists()
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: screen.table.row_count == 4)
        assert not target.path.exists()
        assert runs["completed"].path.exists()


@aio
async def test_a_live_run_is_never_deleted(tmp_path: Path,
                                           sleeper: StandInRunner) -> None:
    runs_dir = tmp_path / "runs"
    live = write_run(runs_dir, "20260101-003000-mlp-moons-torch", status="running", done=1)
    sleeper.hold(live)
    app = TuitrainApp(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 1)
        await pilot.press("d")
        await pilot.pause(0.2)
        assert app.screen is screen
        assert live.path.exists()


# --- resume -------------------------------------------------------------------------------


@aio
async def test_continue_resumes_a_stopped_run_through_the_launcher(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool]] = []

    def fake_start(run: RunDir, resume: bool = False,
                   claimed: Lock | None = None) -> subprocess.Popen[bytes]:
        assert claimed is not None and run.is_alive(), "resumed under the run's lock"
        calls.append((run.id, resume))
        return subprocess.Popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(launch, "start_runner", fake_start)
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await cursor_to(pilot, screen, runs["damaged"].id)
        await pilot.press("c")  # a damaged run cannot be resumed
        await pilot.pause(0.1)
        assert calls == []
        await cursor_to(pilot, screen, runs["stopped"].id)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert calls == [(runs["stopped"].id, True)]


@aio
async def test_enter_opens_the_runs_dashboard(tmp_path: Path) -> None:
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await cursor_to(pilot, screen, runs["completed"].id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.screen.run.id == runs["completed"].id


@aio
async def test_escape_unmarks_then_goes_back_to_the_dashboard(tmp_path: Path) -> None:
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await cursor_to(pilot, screen, runs["completed"].id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        dashboard = app.screen
        await pilot.press("r")
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("space")
        assert screen.table.marked
        await pilot.press("escape")  # first the marks
        await pilot.pause()
        assert not screen.table.marked and app.screen is screen
        await pilot.press("escape")  # then back where the person came from
        await until(pilot, lambda: app.screen is dashboard)


# --- evaluate -----------------------------------------------------------------------------


@aio
async def test_evaluate_shows_metrics_and_the_confusion_matrix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fake_evaluate(run: RunDir) -> tuple[dict[str, Any] | None, str]:
        asked.append(run.id)
        return eval_report(), ""

    monkeypatch.setattr(jobs, "evaluate", fake_evaluate)
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await cursor_to(pilot, screen, runs["completed"].id)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EvaluationScreen))
        assert asked == [runs["completed"].id]
        console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(app.screen.query_one(ConfusionMatrix).content)
        text = console.export_text()
        assert "141" in text and "144" in text and "rows: true class" in text
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


def char_model_report() -> dict[str, Any]:
    """An eval.json of 40 classes: class 7 always read as 8, two of class 0 as 30."""
    names = [f"c{i}" for i in range(40)]
    confusion = [[5 if j == i else 0 for j in range(40)] for i in range(40)]
    confusion[7][7], confusion[7][8] = 0, 5
    confusion[0][0], confusion[0][30] = 3, 2
    recall = [row[i] / 5 for i, row in enumerate(confusion)]
    return {**eval_report(), "class_names": names, "precision": [1.0] * 40, "recall": recall,
            "confusion": confusion}


@aio
async def test_a_matrix_too_wide_to_draw_shows_the_worst_classes_and_the_pairs_confused_most(
        tmp_path: Path) -> None:
    """Too many classes for a matrix (as `tuitrain eval` decides): the per-class table lists
    the classes recalled worst, and the matrix's place lists the pairs confused most."""
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(EvaluationScreen("a-run", char_model_report()))
        await until(pilot, lambda: isinstance(app.screen, EvaluationScreen))
        await pilot.pause()
        console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(app.screen.query_one("#eval-per-class", Static).content)
        per_class = console.export_text().splitlines()
        console.print(app.screen.query_one(ConfusionMatrix).content)
        confused = console.export_text().splitlines()
    assert "the 10 of 40 recalled worst" in per_class[0]
    assert per_class[2].split() == ["c7", "1.000", "0.000", "5"]  # recalled worst
    assert per_class[3].split() == ["c0", "1.000", "0.600", "5"]
    assert len(per_class) == 12
    assert "confused most" in confused[0] and "40 classes" in confused[0]
    assert confused[2].split() == ["c7", "c8", "5", "100.0%"]
    assert confused[3].split() == ["c0", "c30", "2", "40.0%"]
    assert len(confused) == 4


@aio
async def test_a_failed_evaluation_is_reported(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "evaluate", lambda run: (None, "no complete checkpoint"))
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await cursor_to(pilot, screen, runs["completed"].id)
        await pilot.press("e")
        await until(pilot, lambda: any("no complete checkpoint" in n for n in notes))
        assert app.screen is screen


@aio
async def test_export_runs_the_export_command_and_says_where(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fake_export(run: RunDir) -> tuple[bool, str]:
        asked.append(run.id)
        return True, f"{run.id}: exported as torch-export to /x/model.pt2"

    monkeypatch.setattr(jobs, "export", fake_export)
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await cursor_to(pilot, screen, runs["completed"].id)
        await pilot.press("x")
        await until(pilot, lambda: any("/x/model.pt2" in n for n in notes))
        assert asked == [runs["completed"].id]
        monkeypatch.setattr(jobs, "export", lambda run: (False, "already exists"))
        await pilot.press("x")
        await until(pilot, lambda: any("already exists" in n for n in notes))


# --- compare ------------------------------------------------------------------------------


@aio
async def test_a_comparison_shows_its_table_when_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs_dir = tmp_path / "runs"
    runs = standard_runs(runs_dir)
    log = runs_dir / "compare.log"
    log.write_text(f"== torch: {runs['completed'].path}\nepoch 5/5\n"
                   f"== tensorflow: {runs['tf'].path}\n")
    requested: list[tuple[str, tuple[str, ...]]] = []

    def fake_start(runs_dir: Path, preset: str, frameworks: tuple[str, ...],
                   epochs: int | None = None) -> jobs.CompareJob:
        requested.append((preset, frameworks))
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        return jobs.CompareJob(proc, log, preset, frameworks)

    monkeypatch.setattr(jobs, "start_compare", fake_start)
    app = TuitrainApp(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await cursor_to(pilot, screen, runs["completed"].id)
        await pilot.press("f")
        await until(pilot, lambda: app.screen is not screen)
        await pilot.press("enter")  # the preset select is focused: accept the default run's
        await pilot.pause(0.1)
        app.screen.query_one("#compare-start").press()
        panel = screen.query_one(ComparePanel)
        await until(pilot, lambda: panel.note == "done", timeout=10)
        assert requested and requested[0][0] == "mlp-moons"
        table = screen.query_one(CompareTable)
        assert table.row_count == 2
        assert [str(table.get_row_at(i)[0]) for i in range(2)] == ["torch", "tensorflow"]
        # The marks follow the panel's Finished message, a moment after its note.
        expected = {runs["completed"].id, runs["tf"].id}
        await until(pilot, lambda: screen.table.marked == expected, timeout=10)


# --- helpers without a UI ------------------------------------------------------------------


def test_run_row_and_compare_rows_survive_a_damaged_run(tmp_path: Path) -> None:
    runs = standard_runs(tmp_path)
    assert run_row(runs["damaged"])["status"] == "damaged"
    rows = compare_rows([runs["completed"], runs["damaged"]])
    assert rows[0][0] == "torch" and rows[0][-1] == "completed"
    assert rows[1][-1] == "damaged"
    assert "framework" in compare_table([runs["completed"]]).splitlines()[0]


def test_compare_rows_keep_the_first_epoch_apart_from_the_speed(tmp_path: Path) -> None:
    """Tracing and compiling land in the first epoch: it gets its own column, and s/epoch
    and samples/s are the median of the others (a repeated epoch counts once, the later)."""
    run = write_run(tmp_path, "r1", done=0, epochs=4)
    for epoch, seconds in enumerate([3.0, 0.5, 0.9, 0.7]):
        run.append(EpochEnd(epoch=epoch, global_step=40 * (epoch + 1), metrics={"loss": 1.0},
                            seconds=seconds, is_best=False))
    run.append(EpochEnd(epoch=2, global_step=120, metrics={"loss": 1.0}, seconds=0.6,
                        is_best=False))  # epoch 3 again, after a resume
    summary = {**run.summary(), "epochs_completed": 4, "train_samples": 4 * 1400}
    run.write_summary(summary)
    row = dict(zip(COMPARE_HEADER, compare_rows([run])[0], strict=True))
    assert (row["1st epoch s"], row["s/epoch"], row["samples/s"]) == ("3.00", "0.60", "2,333")


def test_epoch_curves_read_only_epoch_lines(tmp_path: Path) -> None:
    run = write_run(tmp_path, "r1", done=3)
    with open(run.metrics, "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": "batch", "metrics": {"loss": 9.0}}) + "\n")
        f.write('{"event": "epoch", "epoch": 3, "metr')  # a cut last line
    curves = epoch_curves(run)
    assert [x for x, _ in curves["val_loss"]] == [1, 2, 3]
    assert epoch_curves(RunDir(tmp_path / "missing")) == {}


def test_compare_state_reads_run_ids_and_errors(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_text("== torch: runs/a\r  epoch 1\n== keras: runs/b\ntuitrain: error: boom\n")
    assert jobs.compare_state(log) == (["a", "b"], "boom")


def test_a_run_without_summary_yet_is_described_from_its_config(
        tmp_path: Path, sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, "20260101-000000-mlp-digits-keras", preset="mlp-digits",
                    framework="keras", done=0, epochs=7)
    run.summary_path.unlink()
    sleeper.hold(run)
    row = run_row(run)
    assert (row["status"], row["preset"], row["framework"], row["epochs"]) == (
        "running", "mlp-digits", "keras", "0/7")
    assert compare_rows([run])[0][0] == "keras" and compare_rows([run])[0][-1] == "running"


# --- the run queue ------------------------------------------------------------------------


@aio
async def test_queued_runs_show_in_the_queue_pane_and_leave_the_queue_when_deleted(
        tmp_path: Path) -> None:
    from tuitrain.core.queue_db import Queue

    runs_dir = tmp_path / "runs"
    running = write_run(runs_dir, "20260101-000000-mlp-moons-torch", status="running", done=1,
                        alive=True)
    waiting = write_run(runs_dir, "20260101-000100-cnn-digits-torch", preset="cnn-digits",
                        status="queued", done=0)
    queue = Queue(tmp_path / "queue")
    first = queue.add(running.path, "auto", "1")
    queue.start(first.id)
    second = queue.add(waiting.path, "cuda", "2")
    app = TuitrainApp(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 2)
        pane = screen.query_one("#queue-pane", Static)
        await until(pilot, lambda: pane.display)
        text = str(pane.render())
        assert "queue: 1 running, 1 waiting, 1 at a time · scheduler not running" in text
        lines = text.splitlines()
        assert lines[1].split()[:4] == [f"#{first.id}", "running", running.id, "auto"]
        assert lines[2].startswith(f"#{second.id}  queued   {waiting.id}  cuda x2  ")
        assert status_of(screen, waiting.id).endswith("queued")
        await cursor_to(pilot, screen, waiting.id)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is screen  # a queued run has nothing to watch yet
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "leaves the run queue" in str(app.screen.query_one("#confirm-detail").render())
        await pilot.press("y")
        await until(pilot, lambda: screen.table.row_count == 1)
        assert not waiting.path.exists()
        assert queue.get(second.id) is None
        await until(pilot, lambda: "0 waiting" in str(pane.render()))


@aio
async def test_a_run_that_raised_alerts_says_so(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run = write_run(runs_dir, "20260101-000000-mlp-moons-torch")
    run.write_summary({**run.summary(), "alert_count": 2, "alerts": [
        {"alert": "stalled", "message": "val_accuracy has not improved for 10 epochs"}]})
    app = TuitrainApp(runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 1)
        assert status_of(screen, run.id) == "completed ⚠2"
        await cursor_to(pilot, screen, run.id)
        assert "⚠ val_accuracy has not improved for 10 epochs" in detail(screen)
    listed = run_cli_runs(runs_dir)
    assert "completed ⚠2" in listed and f"{run.id}: ⚠ val_accuracy has not improved" in listed


def run_cli_runs(runs_dir: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "tuitrain", "runs", "--runs-dir", str(runs_dir)],
                         capture_output=True, text=True, check=True)
    return out.stdout


@aio
async def test_filter_as_you_type_sort_and_tag(tmp_path: Path) -> None:
    runs = standard_runs(tmp_path / "runs")
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_runs(pilot, app, 5)
        await pilot.press("slash")
        field = screen.query_one("#runs-filter", Input)
        assert field.display and field.has_focus
        await pilot.press(*"status=completed torch")
        await until(pilot, lambda: screen.table.row_count == 1)
        assert screen.table.current == runs["completed"].id
        heading = str(screen.query_one("#runs-heading", Static).render())
        assert "5 runs in" in heading and "1 match" in heading
        field.value = "size>3"  # a mistake: said under the table, the last filter stays
        await pilot.pause(0.1)
        assert "no column 'size'" in detail(screen) and screen.table.row_count == 1
        await pilot.press("escape")  # clears it
        await until(pilot, lambda: screen.table.row_count == 5)
        await pilot.press("escape")  # closes it
        assert not field.display and screen.table.has_focus
        await pilot.press("o")  # by the best main metric
        assert "sorted by -best" in str(screen.query_one("#runs-heading", Static).render())
        bests = [screen.rows[i].get("best_value") for i in screen.table.ordered_ids()]
        present = [b for b in bests if b is not None]
        assert present == sorted(present, reverse=True) and bests[:len(present)] == present
        await cursor_to(pilot, screen, runs["stopped"].id)
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        app.screen.query_one("#prompt-input", Input).value = "baseline, v2"
        await pilot.press("enter")
        await until(pilot, lambda: screen.rows.get(runs["stopped"].id, {}).get("tags")
                    == ["baseline", "v2"])
        assert read_meta(runs["stopped"].path).tags == ("baseline", "v2")
