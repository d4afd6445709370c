"""What keeps the setup screen's first frame cheap (figure 8) without changing what it shows:
the width class is there before the first resize, the setup screen is the app's default
screen (painted once), the check and device detection start after the first frame and
still fill the screen in, garbage collection waits for the first frame, and the screen's
imports stay free of numpy and the run-folder code."""

from __future__ import annotations

import gc
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_runs import aio, quiet_env, until
from textual.widgets import Static

from tuitrain.cli.app import cmd_app
from tuitrain.cli.main import build_parser
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.runs import RunsScreen
from tuitrain.ui.screens.setup import SetupScreen


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    quiet_env(monkeypatch, tmp_path)


def test_breakpoint_class_matches_textuals_rule() -> None:
    screen = SetupScreen.__new__(SetupScreen)  # the rule only reads the class attribute
    assert screen._breakpoint_class(80) == "-narrow"
    assert screen._breakpoint_class(119) == "-narrow"
    assert screen._breakpoint_class(120) == "-wide"
    assert screen._breakpoint_class(200) == "-wide"


@pytest.mark.parametrize(
    ("size", "expected", "other"), [((160, 48), "-wide", "-narrow"), ((80, 24), "-narrow", "-wide")]
)
@aio
async def test_width_class_is_set_when_composing(
    tmp_path: Path, size: tuple[int, int], expected: str, other: str
) -> None:
    seen: list[set[str]] = []

    class Watching(SetupScreen):
        def compose(self) -> Any:
            yield from super().compose()
            seen.append(set(self.classes))  # before any resize reached the screen

    app = TuitrainApp(tmp_path / "runs")
    app.SCREENS_BY_NAME = {**app.SCREENS_BY_NAME, "setup": (__name__, "_Watching")}
    globals()["_Watching"] = Watching
    try:
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: isinstance(app.screen, Watching))
            await pilot.pause()
            assert seen and expected in seen[0] and other not in seen[0]
            assert app.screen.has_class(expected) and not app.screen.has_class(other)
    finally:
        del globals()["_Watching"]


@aio
async def test_the_app_opens_on_the_setup_screen_as_its_default_screen(tmp_path: Path) -> None:
    """No screen is pushed over a blank one at start-up (its first paint would be thrown
    away); going to another screen and back leaves one setup screen in the stack."""
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        assert app.screen_stack == [screen]
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        assert app.screen_stack == [screen]


@aio
async def test_the_check_starts_after_the_first_frame(tmp_path: Path) -> None:
    started: list[int] = []

    class Watching(SetupScreen):
        def on_mount(self) -> None:
            super().on_mount()
            started.append(sum(w.group == "setup-check" for w in self.app.workers))

    app = TuitrainApp(tmp_path / "runs")
    app.SCREENS_BY_NAME = {**app.SCREENS_BY_NAME, "setup": (__name__, "_Watching")}
    globals()["_Watching"] = Watching
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, Watching))
            screen = app.screen
            assert isinstance(screen, Watching)
            assert started == [0], "no check while the first frame is drawn"
            await until(pilot, lambda: screen.result is not None)
            assert "ready:" in str(screen.query_one("#setup-message", Static).content)
    finally:
        del globals()["_Watching"]


def test_garbage_collection_pauses_until_the_app_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`tuitrain` starts the app with the collector off and turns it back on afterwards,
    whatever happens to the app."""
    seen: list[bool] = []

    def fake_run(self: TuitrainApp) -> int:
        seen.append(gc.isenabled())
        raise RuntimeError("the app broke")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(TuitrainApp, "run", fake_run)
    monkeypatch.setattr(sys, "stdout", Terminal())  # the app refuses to start in a pipe
    args = build_parser().parse_args(["--runs-dir", str(tmp_path / "runs")])
    with pytest.raises(RuntimeError):
        cmd_app(args)
    assert seen == [False]
    assert gc.isenabled()


@aio
async def test_the_first_frame_turns_garbage_collection_back_on(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    gc.disable()
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.dom_ready)
            assert gc.isenabled()
    finally:
        gc.enable()


def test_the_setup_screen_imports_no_run_folder_code() -> None:
    """What the first frame needs, and no more: no numpy, no pyarrow, no event log, no run
    folders."""
    code = (
        "import sys; import tuitrain.cli.main, tuitrain.cli.app, tuitrain.ui.app; "
        "import tuitrain.ui.screens.setup; "
        "heavy = {'numpy', 'pyarrow', 'tuitrain.core.rundir', 'tuitrain.core.events'}; "
        "heavy &= set(sys.modules); "
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


@aio
async def test_device_detection_still_runs_after_the_first_frame(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await until(pilot, lambda: screen.table.settings.detected, timeout=30)
        assert screen.framework in screen._probing
