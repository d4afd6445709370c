"""The dashboard, driven with Textual's Pilot against run folders the tests write themselves
(finished, running, failed, cut last line, crashed, a million steps, 100,000 epochs) and
one real run.

`write_run` and `epoch_events` make deterministic run folders (fixed times, smooth curves);
the snapshot tests use them too."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import math
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, assert_one_line_error, cli_env, requires_torch, run_cli
from stand_in import StandInRunner
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tuitrain.core.events import (
    Alert,
    BatchMetrics,
    CheckpointSaved,
    EpochEnd,
    Event,
    LogMessage,
    RunEnded,
    RunStarted,
    SettingChanged,
    StatusChanged,
)
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.dashboard import PLOT_INTERVAL, DashboardFooter, DashboardScreen
from tuitrain.ui.screens.help import HelpScreen
from tuitrain.ui.screens.prompt import PromptScreen
from tuitrain.ui.screens.quit import QuitScreen
from tuitrain.ui.widgets.epoch_table import BEST, EpochTable
from tuitrain.ui.widgets.log_pane import LogPane
from tuitrain.ui.widgets.metric_plot import MetricPlot
from tuitrain.ui.widgets.status_bar import status_text

T0 = 1_700_000_000.0  # every synthetic event time is T0 + seconds
RUN_ID = "20231114-221320-mlp-moons-torch"
SIZE = (160, 48)
VAL_ACC = (0.80, 0.90, 0.88, 0.93, 0.95, 0.94)  # best: 2 of 3, 5 of 6


def aio(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest asyncio plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


# ----- synthetic run folders ------------------------------------------------------------
def train_loss(step: float) -> float:
    return 0.3 + 1.5 * math.exp(-step / 60) + 0.05 * math.sin(step / 3)


def accuracy(step: float) -> float:
    return 1 - 0.5 * math.exp(-step / 60)


def started(epochs: int, spe: int, start_epoch: int = 0) -> RunStarted:
    return RunStarted(run_id=RUN_ID, preset="mlp-moons", framework="torch", device="cpu",
                      device_name="CPU (2 threads)", precision="32", params=1218, epochs=epochs,
                      steps_per_epoch=spe, batch_size=32, start_epoch=start_epoch,
                      start_step=start_epoch * spe, resumed=start_epoch > 0,
                      versions={"torch": "2.x"}, time=T0)


def epoch_events(epoch: int, spe: int = 40, log_every: int = 10, t0: float = T0) -> list[Event]:
    """One epoch (0-based): batch points, the epoch's metrics, its checkpoint."""
    out: list[Event] = []
    t = t0 + 1 + epoch * 10
    for step in range(log_every, spe + 1, log_every):
        g = epoch * spe + step
        out.append(BatchMetrics(epoch=epoch, step=step, global_step=g,
                                metrics={"loss": train_loss(g), "accuracy": accuracy(g)},
                                lr=0.01 * 0.9**epoch, samples_per_sec=3200.0 + 10 * step,
                                time=t + 8 * step / spe))
    g = (epoch + 1) * spe
    acc = VAL_ACC[epoch % len(VAL_ACC)]
    best = acc == max(VAL_ACC[: epoch + 1])
    out.append(EpochEnd(epoch=epoch, global_step=g, seconds=9.0, is_best=best, time=t + 9,
                        metrics={"loss": train_loss(g), "accuracy": accuracy(g),
                                 "val_loss": train_loss(g) + 0.05, "val_accuracy": acc,
                                 "lr": 0.01 * 0.9**epoch}))
    out.append(CheckpointSaved(epoch=epoch + 1, global_step=g, best=best, time=t + 9.5,
                               path=f"checkpoints/ckpt-e{epoch + 1:04d}-s{g:09d}.pt"))
    return out


def write_run(runs_dir: Path, *, epochs: int = 3, done: int | None = None, spe: int = 40,
              end: str | None = "completed", error: str = "", holder: StandInRunner | None = None,
              extra: list[Event] | None = None, name: str = RUN_ID) -> RunDir:
    """A run folder as a runner leaves it: config, events with fixed times, summary."""
    done = epochs if done is None else done
    run = RunDir(runs_dir / name)
    run.path.mkdir(parents=True)
    run.checkpoints.mkdir()
    run.write_spec(load_spec("mlp-moons", {"train.epochs": epochs}))
    events: list[Event] = [started(epochs, spe)]
    for e in range(done):
        events += epoch_events(e, spe)
    events += extra or []
    if end is not None:
        events.append(RunEnded(status=end, epochs_completed=done, global_step=done * spe,  # type: ignore[arg-type]
                               error=error, time=T0 + 1 + done * 10))
    for event in events:
        run.append(event)
    run.write_summary({"status": end or "running", "framework": "torch", "device": "cpu",
                       "epochs_completed": done, "started": T0})
    if holder is not None:
        holder.hold(run)
    return run


def append(run: RunDir, events: list[Event]) -> None:
    for event in events:
        run.append(event)


@pytest.fixture
def sleeper() -> Iterator[StandInRunner]:
    """A stand-in runner process: alive until the test ends (or a stop signal ends it)."""
    proc = StandInRunner()
    yield proc
    proc.close()


def make_app(runs_dir: Path, run: RunDir | None = None) -> TuitrainApp:
    return TuitrainApp(runs_dir, watch=run, poll_interval=0.05)


async def until(pilot: Pilot[int], cond: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {cond}")
        await pilot.pause(0.05)


def dash_of(app: TuitrainApp) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen), screen
    return screen


def control_commands(run: RunDir) -> list[str]:
    if not run.control.exists():
        return []
    return [json.loads(line)["cmd"] for line in run.control.read_text().splitlines()]


# ----- finished, failed, cut, crashed -----------------------------------------------------
@aio
async def test_finished_run_shows_whole_history(tmp_path: Path) -> None:
    run = write_run(tmp_path, epochs=3)
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "completed" and dash.settled)
        table = dash.query_one(EpochTable)
        assert table.row_count == 3
        assert table.best_epoch == 2, "the best epoch is the latest improvement, not the last"
        assert "completed" in status_text(dash.state).plain
        assert dash.state.epoch_fraction() == (3, 3)
        assert dash.state.step_fraction() == (40, 40)
        dash.redraw_plots()
        loss_plot = dash.query_one("#plot-loss", MetricPlot)
        chart = loss_plot.last_chart
        assert chart is not None
        assert chart.max_line_points <= loss_plot.size.width, "never more points than columns"
        labels = [line.label for line in chart.lines]
        assert "train" in labels and "val" in labels and "train (smoothed)" in labels
        val = next(line for line in chart.lines if line.label == "val")
        assert val.x == (40.0, 80.0, 120.0)
        assert not dash.live
        assert dash.query_one("#device").sample is None  # no sampling of a finished run


@aio
async def test_failed_run_shows_error_and_stays_up(tmp_path: Path) -> None:
    trace = "Traceback (most recent call last):\n  ...\nRuntimeError: CUDA error: boom"
    run = write_run(tmp_path, epochs=3, done=1, end="failed", error="RuntimeError: boom",
                    extra=[LogMessage(level="warning", text="lr is high", time=T0 + 12),
                           LogMessage(level="error", text=trace, time=T0 + 13)])
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "failed" and dash.state.loaded >= 1)
        assert "RuntimeError: boom" in status_text(dash.state).plain
        log = dash.query_one(LogPane)
        assert log.counts.get("error", 0) >= 2 and log.counts.get("warning") == 1
        await pilot.press("p", "t", "l", "m")  # keys on a dead run: messages, no crash
        await pilot.pause(0.2)
        assert app.is_running
        assert control_commands(run) == []


@aio
async def test_cut_last_line_is_skipped_then_read_once_complete(tmp_path: Path) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None)
    line = BatchMetrics(epoch=1, step=10, global_step=50, metrics={"loss": 0.5, "accuracy": 0.9},
                        lr=0.01, samples_per_sec=1.0, time=T0 + 20).to_json()
    with open(run.metrics, "a") as f:
        f.write(line[:25])
    sleeper = StandInRunner()
    sleeper.hold(run)
    try:
        app = make_app(tmp_path, run)
        async with app.run_test(size=SIZE) as pilot:
            dash = dash_of(app)
            await until(pilot, lambda: dash.state.loaded >= 1)
            await pilot.pause(0.2)
            assert dash.state.global_step == 40
            with open(run.metrics, "a") as f:
                f.write(line[25:] + "\n")
            await until(pilot, lambda: dash.state.global_step == 50)
            assert dash.state.status == "running"
    finally:
        sleeper.close()


@aio
async def test_garbage_lines_are_ignored(tmp_path: Path) -> None:
    run = write_run(tmp_path, epochs=2)
    text = run.metrics.read_text().splitlines()
    text.insert(3, "not json at all")
    text.insert(5, '{"event": "batch", "global_step": "x"}')
    text.insert(7, '{"event": "mystery", "time": 1}')
    run.metrics.write_text("\n".join(text) + "\n")
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "completed" and dash.settled)
        assert dash.query_one(EpochTable).row_count == 2


@aio
async def test_runner_gone_without_a_word_is_crashed(tmp_path: Path) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None)
    (run.path / "runner.log").write_text("Fatal Python error: Segmentation fault\n")
    app = make_app(tmp_path, run)  # nobody holds the run's lock: the runner is not alive
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        assert dash.state.status == "crashed"  # from the folder, before any history is read
        await until(pilot, lambda: dash.state.loaded >= 1 and dash.watcher is not None
                    and dash.watcher.lost)
        log = dash.query_one(LogPane)
        await until(pilot, lambda: log.counts.get("error") == 1)
        assert any("Segmentation fault" in line.text for line in log.lines)
        assert not dash.live


# ----- live runs -----------------------------------------------------------------------------
@aio
async def test_running_run_updates_table_plots_and_status(tmp_path: Path,
                                                          sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None, holder=sleeper)
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.settled)
        table = dash.query_one(EpochTable)
        plot = dash.query_one("#plot-loss", MetricPlot)
        await until(pilot, lambda: plot.last_chart is not None and plot.last_chart.points > 0)
        builds = plot.builds
        assert table.row_count == 1 and dash.state.status == "running" and dash.live
        append(run, epoch_events(1))
        await until(pilot, lambda: table.row_count == 2 and dash.state.global_step == 80)
        await until(pilot, lambda: plot.builds > builds)  # the plot followed the new points
        assert dash.state.epoch_fraction() == (2, 3)
        assert dash.state.eta() is not None
        await until(pilot, lambda: dash.query_one("#device").sample is not None, timeout=5)
        append(run, [RunEnded(status="completed", epochs_completed=2, global_step=80,
                              time=T0 + 40)])
        await until(pilot, lambda: dash.state.status == "completed")
        assert not dash.live


@aio
async def test_redraws_are_throttled_and_skip_unchanged_pictures(
        tmp_path: Path, sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, epochs=50, done=1, end=None, holder=sleeper)
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.settled)
        plot = dash.query_one("#plot-loss", MetricPlot)
        before = plot.builds
        t = time.monotonic()
        for epoch in range(1, 21):  # 20 epochs in ~1 s: far more updates than redraws
            append(run, epoch_events(epoch))
            await pilot.pause(0.05)
        await until(pilot, lambda: dash.settled)
        elapsed = time.monotonic() - t
        redraws = plot.builds - before
        assert 1 <= redraws <= elapsed / PLOT_INTERVAL + 2, (redraws, elapsed)
        assert dash.query_one(EpochTable).row_count == 21
        quiet = plot.builds
        await pilot.pause(1.0)
        assert plot.builds == quiet, "no redraw when nothing changed"


@aio
async def test_control_keys_write_commands(tmp_path: Path,
                                           sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None, holder=sleeper)
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.loaded >= 1)
        await pilot.press("p")
        assert control_commands(run) == ["pause"]
        append(run, [StatusChanged(status="paused", time=T0 + 15)])
        await until(pilot, lambda: dash.state.status == "paused")
        assert dash.state.eta() is None
        await pilot.press("p")
        assert control_commands(run) == ["pause", "resume"]
        await pilot.press("c")
        assert control_commands(run) == ["pause", "resume", "checkpoint"]
        append(run, [CheckpointSaved(epoch=1, global_step=45, path="checkpoints/now.pt", best=False,
                                     time=T0 + 16)])
        log = dash.query_one(LogPane)
        await until(pilot, lambda: any("checkpoints/now.pt" in line.text for line in log.lines))
        table = dash.query_one(EpochTable)
        await until(pilot, lambda: "now.pt" in str(table.border_subtitle))  # at the table's pace
        await pilot.press("s")
        await pilot.press("s")  # a second stop does not send again
        assert control_commands(run) == ["pause", "resume", "checkpoint", "stop"]
        assert sleeper.wait(5) == -signal.SIGTERM, "graceful stop also sends SIGTERM"


@aio
async def test_quit_with_live_run_asks_and_can_keep_training(
        tmp_path: Path, sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None, holder=sleeper)
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.loaded >= 1)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert app.screen is dash and app.is_running
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("b")
        await pilot.pause(0.1)
    assert app.return_value == 0
    assert sleeper.poll() is None, "the runner keeps training in the background"
    assert control_commands(run) == []


@aio
async def test_quit_stop_and_save_waits_for_the_run_to_end(
        tmp_path: Path, sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None, holder=sleeper)
    sleeper_pid = sleeper.pid
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.loaded >= 1)
        await pilot.press("q")
        await pilot.press("s")
        assert control_commands(run) == ["stop"]
        append(run, [RunEnded(status="stopped", epochs_completed=1, global_step=40, time=T0 + 20)])
        await until(pilot, lambda: not app.is_running, timeout=10)
    assert app.return_value == 0
    assert run.pidfile.read_text() == str(sleeper_pid)


@aio
async def test_quit_without_live_run_exits_at_once(tmp_path: Path) -> None:
    app = make_app(tmp_path, write_run(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dash_of(app).state.status == "completed")
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_value == 0


@aio
async def test_toggles_help_and_palette_commands(tmp_path: Path) -> None:
    app = make_app(tmp_path, write_run(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "completed" and dash.settled)
        await pilot.press("t")
        assert dash.has_class("-no-plots")
        await pilot.press("t", "l")
        await until(pilot, lambda: dash.settled)
        loss = dash.query_one("#plot-loss", MetricPlot)
        assert loss.last_chart is not None and loss.last_chart.log
        await pilot.press("m")  # 0.6 -> 0.9
        await pilot.press("m")  # -> off
        await until(pilot, lambda: dash.settled)
        assert loss.last_chart is not None
        assert "train (smoothed)" not in [line.label for line in loss.last_chart.lines]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.screen is dash
        titles = [c.title for c in app.get_system_commands(dash)]
        for title in ("Pause / resume training", "Stop training", "Checkpoint now",
                      "Toggle plots", "Runs", "Help", "Quit"):
            assert title in titles


@aio
async def test_help_is_quick_to_open_and_leaves_the_dashboard_as_it_was(tmp_path: Path) -> None:
    """The dashboard's footer keeps its key widgets over a help round trip (rebuilding them
    was most of the cost of `?`), and the long-lived objects are kept out of the garbage
    collector's full scans while the dashboard is up, and handed back when it closes."""
    app = make_app(tmp_path, write_run(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "completed" and dash.settled)
        assert gc.get_freeze_count() > 0
        footer = dash.query_one(DashboardFooter)
        keys = list(footer.children)
        assert keys, "the footer shows the keys"
        for _ in range(2):
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert "Dashboard keys" in app.screen.query_one("#help-text", Static).visual.plain
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert app.screen is dash
        assert list(footer.children) == keys, "the same key widgets, not rebuilt"
    assert gc.get_freeze_count() == 0, "a closed dashboard is collectable again"


@aio
async def test_narrow_terminal_keeps_loss_and_metric(tmp_path: Path) -> None:
    app = make_app(tmp_path, write_run(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "completed" and dash.settled)
        assert dash.query_one("#plot-loss").display and dash.query_one("#plot-metric").display
        assert not dash.query_one("#plot-lr").display
        loss = dash.query_one("#plot-loss", MetricPlot)
        chart = loss.last_chart
        assert chart is not None and 0 < chart.max_line_points <= loss.size.width


# ----- scale and start-up -------------------------------------------------------------------
def write_million(run: RunDir, n: int) -> None:
    """n batch lines, written fast (formatted in chunks), a NaN and a spike among them."""
    head = started(1, n).to_json()
    fmt = ('{"event": "batch", "time": %.3f, "epoch": 0, "step": %d, "global_step": %d, '
           '"metrics": {"loss": %r, "accuracy": 0.5}, "lr": 0.001, "samples_per_sec": 5000.0}\n')
    with open(run.metrics, "w") as f:
        f.write(head + "\n")
        for start in range(1, n + 1, 100_000):
            f.write("".join(fmt % (T0 + i * 1e-3, i, i, (0.5 + 1.0 / i) if i != 500_001 else 99.0)
                            for i in range(start, min(n, start + 99_999) + 1)))
        f.write(head.replace("run_started", "no_such_event") + "\n")
    with open(run.metrics, "a") as f:  # a NaN loss (json allows NaN)
        f.write(fmt.replace("%r", "NaN") % (T0 + n, n + 1, n + 1))


@aio
async def test_million_step_run_opens_with_bounded_memory(tmp_path: Path) -> None:
    n = 1_000_000
    run = write_run(tmp_path, epochs=1, done=0, end=None)
    t = time.perf_counter()
    write_million(run, n)
    written = time.perf_counter() - t
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.loaded >= 1, timeout=120)
        await until(pilot, lambda: dash.settled)
        series = dash.history.series["loss"]
        assert len(series) == n + 1
        bound = len(dash.history.series) * Series_bytes()
        assert dash.history.nbytes <= bound, "memory does not grow with the run"
        dash.redraw_plots()
        plot = dash.query_one("#plot-loss", MetricPlot)
        chart = plot.last_chart
        assert chart is not None and chart.max_line_points <= plot.size.width
        train = next(line for line in chart.lines if line.label == "train")
        assert max(train.y) == 99.0, "the one spike in a million is drawn"
        assert any(line.label == "NaN/inf" for line in chart.lines), "the NaN is marked"
        t = time.perf_counter()
        for _ in range(10):
            plot.redraw()
        per_render = (time.perf_counter() - t) / 10
    size_mb = run.metrics.stat().st_size / 1e6
    print(f"\n[bench] 1,000,000-step log ({size_mb:.0f} MB, written in {written:.1f} s): "
          f"dashboard caught up in {dash.load_seconds:.2f} s; "
          f"history {dash.history.nbytes / 1e6:.1f} MB; "
          f"loss plot build {per_render * 1000:.1f} ms")


def write_epochs(run: RunDir, n: int, best: int) -> None:
    """n epoch lines (no batch lines), written fast; val_loss improves until epoch `best`
    (1-based) and never again."""
    head = started(n, 1).to_json()
    fmt = ('{"event": "epoch", "time": %.1f, "epoch": %d, "global_step": %d, "seconds": 0.5, '
           '"is_best": %s, "metrics": {"loss": 0.5, "val_loss": %r}}\n')
    with open(run.metrics, "w") as f:
        f.write(head + "\n")
        for start in range(0, n, 10_000):
            f.write("".join(fmt % (T0 + e, e, e + 1, "true" if e < best else "false",
                                   1.0 / (e + 1) if e < best else 0.5)
                            for e in range(start, min(n, start + 10_000))))
        f.write(RunEnded(status="completed", epochs_completed=n, global_step=n,
                         time=T0 + n).to_json() + "\n")


@aio
async def test_epoch_table_keeps_the_latest_and_the_best_of_100k_epochs(tmp_path: Path) -> None:
    from tuitrain.ui.widgets.epoch_table import KEEP

    n, best = 100_000, 40_000
    run = write_run(tmp_path, epochs=n, done=0, end=None)
    write_epochs(run, n, best)
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "completed" and dash.settled,
                    timeout=120)
        table = dash.query_one(EpochTable)
        assert table.epochs_seen == n
        assert table.row_count == KEEP + 1, "the last KEEP epochs and the best one"
        keys = [str(row.key.value) for row in table.ordered_rows]
        assert keys[0] == str(best) and keys[1] == str(n - KEEP + 1) and keys[-1] == str(n)
        assert table.best_epoch == best and BEST in str(table.get_cell(str(best), "best"))
        assert "of 100,000" in str(table.border_title)
        assert len(dash.state.epoch_seconds) <= 3


def test_epoch_table_moves_the_best_row_as_epochs_arrive() -> None:
    from tuitrain.core.history import EpochRow
    from tuitrain.ui.widgets.epoch_table import KEEP

    async def run() -> None:
        from textual.app import App, ComposeResult

        class One(App[None]):
            def compose(self) -> ComposeResult:
                yield EpochTable(id="epochs")

        app = One()
        async with app.run_test(size=(80, 24)):
            table = app.query_one(EpochTable)

            def row(epoch: int, is_best: bool = False) -> EpochRow:
                return EpochRow(epoch, epoch, {"loss": 1.0 / epoch}, 0.1, is_best)

            table.add_epochs([row(1, True)] + [row(e) for e in range(2, KEEP + 1)])
            assert table.row_count == KEEP and table.best_epoch == 1
            for e in range(KEEP + 1, KEEP + 51):  # one at a time, as a live run adds them
                table.add_epochs([row(e)])
            keys = [int(str(r.key.value)) for r in table.ordered_rows]
            assert keys[0] == 1 and keys[1:] == list(range(51, KEEP + 51)), "best pinned"
            table.add_epochs([row(KEEP + 51, True)])  # a new best: the old one goes
            keys = [int(str(r.key.value)) for r in table.ordered_rows]
            assert keys == list(range(52, KEEP + 52)) and table.best_epoch == KEEP + 51
            assert BEST in str(table.get_cell(str(KEEP + 51), "best"))

    asyncio.run(run())


def Series_bytes() -> int:
    from tuitrain.core.history import Series

    return Series().nbytes


def test_no_ml_framework_imported_by_the_tui(tmp_path: Path) -> None:
    run = write_run(tmp_path)
    code = f"""
import asyncio, sys
from pathlib import Path
from tuitrain.core.rundir import RunDir
from tuitrain.ui.app import TuitrainApp

async def main():
    app = TuitrainApp(Path({str(tmp_path)!r}), watch=RunDir(Path({str(run.path)!r})))
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.screen.state.status == "completed":
                break
        await pilot.press("t", "t", "l", "question_mark", "escape")
        await pilot.pause(0.3)
        assert app.screen.state.status == "completed"
asyncio.run(main())
print(sorted(m for m in ("torch", "tensorflow", "keras", "jax") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=cli_env(), cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data += os.read(fd, 65536)
            except OSError:
                break
    return data


def test_sighup_exits_promptly_and_leaves_the_runner(tmp_path: Path,
                                                     sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None, holder=sleeper)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real CLI in a real terminal
        env = cli_env(TERM="xterm-256color", COLUMNS="120", LINES="40")
        os.execve(sys.executable, [sys.executable, "-m", "tuitrain", "watch", str(run.path)], env)
    try:
        screen = _read_until(fd, b"running", timeout=60)
        assert b"running" in screen, screen[-2000:]
        os.kill(pid, signal.SIGHUP)
        t = time.monotonic()
        status = None
        while time.monotonic() - t < 10:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            _read_until(fd, b"\x00", 0.1)  # keep draining the terminal
        took = time.monotonic() - t
        assert status is not None and done, "the app did not exit after SIGHUP"
        assert took < 5, took
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    assert sleeper.poll() is None, "the runner was not touched"
    assert control_commands(run) == []


def test_cli_watch_and_start_errors_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("watch", "no-such-run", runs_dir=tmp_path), "no run")
    assert_one_line_error(run_cli("--start", runs_dir=tmp_path), "--preset")
    assert_one_line_error(run_cli("--preset", "nope", "--start", runs_dir=tmp_path), "nope")


# ----- a real run ------------------------------------------------------------------------------
@requires_torch
@pytest.mark.torch
@aio
async def test_real_tiny_run_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    app = TuitrainApp(tmp_path, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        spec = load_spec("mlp-moons", {"train.epochs": 2, "run.framework": "torch"})
        run = app.start_run(spec)
        assert run is not None
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.status == "completed", timeout=120)
        await until(pilot, lambda: dash.settled)
        assert dash.query_one(EpochTable).row_count == 2
        plot = dash.query_one("#plot-loss", MetricPlot)
        assert plot.last_chart is not None and plot.last_chart.points > 0
        proc = dash.proc
        assert proc is not None
        await until(pilot, lambda: proc.poll() is not None, timeout=30)
        assert proc.returncode == 0
        assert run.summary()["status"] == "completed"


@requires_torch
@pytest.mark.torch
@aio
async def test_real_run_pause_resume_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    app = TuitrainApp(tmp_path, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        spec = load_spec("mlp-digits", {"train.epochs": 500, "run.framework": "torch"})
        run = app.start_run(spec)
        assert run is not None
        dash = dash_of(app)
        await until(pilot, lambda: dash.query(EpochTable))
        table = dash.query_one(EpochTable)
        await until(pilot, lambda: table.row_count >= 2, timeout=120)
        await pilot.press("p")
        await until(pilot, lambda: dash.state.status == "paused", timeout=30)
        done = dash.state.epochs_done
        await pilot.pause(1.0)
        assert dash.state.epochs_done == done, "paused: no more epochs"
        await pilot.press("p")
        await until(pilot, lambda: dash.state.status == "running", timeout=30)
        await pilot.press("s")
        await until(pilot, lambda: dash.state.status == "stopped", timeout=60)
        assert run.summary()["status"] == "stopped"
        assert run.summary()["last_checkpoint"]
        await pilot.press("q")  # nothing live: no dialog
        await pilot.pause(0.2)
    assert app.return_value == 0


# ----- pieces without an app ------------------------------------------------------------------
def test_watcher_follows_changing_metric_keys_and_nulls(tmp_path: Path) -> None:
    from tuitrain.core.history import RunHistory
    from tuitrain.ui.messages import HistoryGrew, Loaded, RunInfo
    from tuitrain.ui.watcher import RunWatcher

    run = write_run(tmp_path, epochs=3, done=0, end=None)
    lines = [
        '{"event": "batch", "time": 1, "epoch": 0, "step": 1, "global_step": 1, '
        '"metrics": {"loss": 1.0}, "lr": 0.1, "samples_per_sec": 10}',
        '{"event": "batch", "time": 2, "epoch": 0, "step": 2, "global_step": 2, '
        '"metrics": {"loss": null, "accuracy": 0.5}, "lr": 0.1, "samples_per_sec": 10}',
        '{"event": "batch", "time": 3, "epoch": 0, "step": 3, "global_step": 3, '
        '"metrics": {"loss": 0.5, "accuracy": 0.75}, "lr": 0.1, "samples_per_sec": 10}',
    ]
    with open(run.metrics, "a") as f:
        f.write("\n".join(lines) + "\n")
    history = RunHistory()
    watcher = RunWatcher(run, history, is_alive=lambda: True)
    messages, more = watcher.poll()
    assert not more
    kinds = [type(m) for m in messages]
    assert RunInfo in kinds and HistoryGrew in kinds and Loaded in kinds
    loss = history.series["loss"].recent_points()[1]
    assert loss[0] == 1.0 and math.isnan(loss[1]) and loss[2] == 0.5
    assert len(history.series["accuracy"]) == 2
    grew = next(m for m in messages if isinstance(m, HistoryGrew))
    assert grew.position.global_step == 3 and grew.position.steps_per_sec == 1.0


def test_device_panel_reads_the_gpus_the_run_was_placed_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from tuitrain.core import gpus
    from tuitrain.ui.messages import Sample
    from tuitrain.ui.widgets.device_panel import gpu_indices, sample_text

    class NVMLError(Exception):
        pass

    fake = types.SimpleNamespace(
        NVMLError=NVMLError,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}",
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=87),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=12.5 * 1024**3,
                                                                 total=80 * 1024**3),
        nvmlDeviceGetTemperature=lambda h, kind: 61,
        nvmlDeviceGetComputeRunningProcesses=lambda h: [],
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv(gpus.FAKE_ENV, raising=False)
    gpus._nvml.cache_clear()
    try:
        found = gpus.read()
    finally:
        gpus._nvml.cache_clear()
    assert [g.index for g in found] == [0, 1]
    assert gpu_indices("cuda", None) == [0] and gpu_indices("cuda:3", None) == [3]
    assert gpu_indices("cpu", None) == []
    assert gpu_indices("cuda:0", [{"index": 1, "number": 0}]) == [1]  # placed on NVML's 1
    text = sample_text(123, "cuda:0", Sample(True, 99.0, 2 * 1024**3, 4, (found[1],)),
                       live=True).plain
    assert "GPU1  87%  12.5/80 GB  61°C" in text and "CPU" in text
    no_gpu = sample_text(123, "cpu", Sample(True, 50.0, 1e9, 2, (), "no GPU in use"), True).plain
    assert "no GPU in use" in no_gpu


def test_nvml_missing_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from tuitrain.core import gpus

    class NVMLError_LibraryNotFound(Exception):  # pynvml's name for it
        pass

    def fail() -> None:
        raise NVMLError_LibraryNotFound()

    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(nvmlInit=fail))
    monkeypatch.delenv(gpus.FAKE_ENV, raising=False)
    gpus._nvml.cache_clear()
    try:
        assert gpus.read() == []
    finally:
        gpus._nvml.cache_clear()


def control_settings(run: RunDir) -> list[tuple[str, object]]:
    lines = [json.loads(line) for line in run.control.read_text().splitlines()]
    return [(raw["key"], raw["value"]) for raw in lines if raw["cmd"] == "set"]


@aio
async def test_live_keys_change_the_run_and_the_plots_mark_the_change(
        tmp_path: Path, sleeper: StandInRunner) -> None:
    run = write_run(tmp_path, epochs=3, done=1, end=None, holder=sleeper)
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.loaded >= 1)
        await pilot.press("left_square_bracket")
        assert control_settings(run) == [("lr_scale", 0.5)]
        summary = run.summary()  # the runner applied it: its summary says so
        run.write_summary({**summary, "live": {"lr_scale": 0.5}})
        await pilot.press("left_square_bracket")  # halves what is in force now
        await pilot.press("right_square_bracket")
        assert control_settings(run)[1:] == [("lr_scale", 0.25), ("lr_scale", 1.0)]
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        prompt = app.screen.query_one("#prompt-input", Input)
        prompt.value = "-1"
        await pilot.press("enter")
        await until(pilot, lambda: "must be a number > 0" in str(
            app.screen.query_one("#prompt-error", Static).render()))
        prompt.value = "0.0003"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is dash)
        assert control_settings(run)[-1] == ("optimizer.lr", 0.0003)
        await pilot.press("e")
        await pilot.press("E")
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        app.screen.query_one("#prompt-input", Input).value = "4"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is dash)
        assert control_settings(run)[-2:] == [("stop_after_epoch", True),
                                              ("train.early_stopping", 4)]
        append(run, [SettingChanged(key="optimizer.lr", value=0.0003, previous=0.01, epoch=1,
                                    global_step=50, time=T0 + 16)])
        log = dash.query_one(LogPane)
        await until(pilot, lambda: any("optimizer.lr 0.01 -> 0.0003 from step 50" in line.text
                                       for line in log.lines))
        plot = dash.query_one("#plot-loss", MetricPlot)
        await until(pilot, lambda: plot.last_chart is not None and plot.last_chart.markers)
        assert plot.last_chart.markers == (50.0,)


@aio
async def test_an_alert_is_logged_toasted_and_sent_to_the_desktop(
        tmp_path: Path, sleeper: StandInRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitrain.ui import desktop_notify

    told: list[tuple[str, str]] = []
    monkeypatch.setattr(desktop_notify, "desktop_notify",
                        lambda app, title, body: told.append((title, body)))
    run = write_run(tmp_path, epochs=3, done=1, end=None, holder=sleeper)
    append(run, [Alert(alert="stalled", message="old news", epoch=0, global_step=1,
                       time=T0 + 1)])
    app = make_app(tmp_path, run)
    async with app.run_test(size=SIZE) as pilot:
        dash = dash_of(app)
        await until(pilot, lambda: dash.state.loaded >= 1)
        log = dash.query_one(LogPane)
        assert any("alert (stalled): old news" in line.text for line in log.lines)
        assert told == []  # read back from the log: no bell for history
        append(run, [Alert(alert="loss_spike", message="loss spiked to 9", epoch=1,
                           global_step=50, time=T0 + 16)])
        await until(pilot, lambda: any("alert (loss_spike): loss spiked to 9" in line.text
                                       for line in log.lines))
        assert told == [("tuitrain alert: loss_spike", f"{run.id}: loss spiked to 9")]


def test_desktop_notifications_are_osc_9_and_777_and_pass_through_tmux() -> None:
    from tuitrain.ui.desktop_notify import sequences

    plain = sequences("tuitrain completed", "run; done\x1b[31m", tmux=False)
    assert plain == ("\x1b]9;tuitrain completed: run  done [31m\x07"
                     "\x1b]777;notify;tuitrain completed;run  done [31m\x07")
    wrapped = sequences("t", "b", tmux=True)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]9;t: b\x07") and wrapped.endswith("\x1b\\")
