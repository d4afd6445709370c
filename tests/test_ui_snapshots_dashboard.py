"""Snapshot tests of the dashboard on deterministic run folders (fixed event times, no wall
clock on screen): a finished run at 160x48 and 80x24, a failed run, and a run mid-training
(its runner faked alive at the dashboard, its device sample and clock fixed) at 80x24,
120x36 and 160x48.

Update after a deliberate change with `pytest tests/test_ui_snapshots_dashboard.py
--snapshot-update` and read the SVGs in `__snapshots__/` before committing them."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ui_dashboard import T0, write_run
from textual.pilot import Pilot

from tuitrain.core.events import LogMessage
from tuitrain.ui import state as state_module
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.messages import DeviceSampled, Sample
from tuitrain.ui.screens.dashboard import DashboardScreen
from tuitrain.ui.widgets.device_panel import DevicePanel


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Log times on screen in UTC, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the run is read and every panel and plot has drawn its final state."""
    screen = pilot.app.screen
    assert isinstance(screen, DashboardScreen)
    for _ in range(400):
        if not screen.state.live and screen.settled:
            break
        await asyncio.sleep(0.05)
    await pilot.pause(0.2)


def finished(tmp_path: Path) -> TuitrainApp:
    notes = [LogMessage(level="warning", text="val_accuracy fell in epoch 3", time=T0 + 40)]
    run = write_run(tmp_path, epochs=6, extra=notes)
    return TuitrainApp(tmp_path, watch=run)


def test_dashboard_finished_run_160x48(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(finished(tmp_path), terminal_size=(160, 48), run_before=settle)


def test_dashboard_finished_run_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(finished(tmp_path), terminal_size=(80, 24), run_before=settle)


def test_dashboard_failed_run_160x48(snap_compare: Any, tmp_path: Path) -> None:
    trace = ("Traceback (most recent call last):\n  File \"train.py\", line 1, in step\n"
             "RuntimeError: CUDA out of memory")
    run = write_run(tmp_path, epochs=6, done=2, end="failed",
                    error="out of memory (OutOfMemoryError); try a smaller batch, "
                          "e.g. --batch-size 16",
                    extra=[LogMessage(level="error", text=trace, time=T0 + 20.5)])
    app = TuitrainApp(tmp_path, watch=run)
    assert snap_compare(app, terminal_size=(160, 48), run_before=settle)


@pytest.fixture
def mid_training(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TuitrainApp]:
    """3 of 10 epochs done: the test holds the run's lock as its runner would (so the run is
    alive), samples as 97% of a core, and the clock reads 35 s after the start."""
    monkeypatch.setattr(state_module, "time", types.SimpleNamespace(time=lambda: T0 + 35))

    def sample(panel: DevicePanel, pid: int, gpus: list[int]) -> None:
        panel.post_message(DeviceSampled(Sample(True, 97.0, 0.42 * 2**30, 4, (), "no GPU in use")))

    monkeypatch.setattr(DevicePanel, "_sample", sample)
    notes = [LogMessage(level="info", text="checkpoint saved: checkpoints/ckpt-e0003.pt",
                        time=T0 + 31)]
    run = write_run(tmp_path, epochs=10, done=3, end=None, extra=notes)
    with run.lock():
        run.pidfile.write_text("4242")  # shown in the device panel's title
        yield TuitrainApp(tmp_path, watch=run)


async def settle_live(pilot: Pilot[Any]) -> None:
    """The run is read and drawn, and the device panel shows its sample."""
    screen = pilot.app.screen
    assert isinstance(screen, DashboardScreen)
    for _ in range(400):
        if screen.settled and screen.device_panel.sample is not None:
            break
        await asyncio.sleep(0.05)
    assert screen.state.live
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard_mid_training(snap_compare: Any, mid_training: TuitrainApp,
                                size: tuple[int, int]) -> None:
    assert snap_compare(mid_training, terminal_size=size, run_before=settle_live)
