"""Snapshot tests of the dashboard on deterministic run folders (fixed event times, no wall
clock on screen): a finished run at 160x48 and 80x24, and a failed run.

Update after a deliberate change with `pytest tests/test_ui_snapshots_dashboard.py
--snapshot-update` and read the SVGs in `__snapshots__/` before committing them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ui_dashboard import T0, write_run
from textual.pilot import Pilot

from tuitrain.core.events import LogMessage
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.dashboard import DashboardScreen


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
