"""What keeps the setup screen's first frame cheap (figure 8) without changing what it shows:
the width class is there before the first resize, error lines are built only when a field
is first wrong (and shown and hidden as before), an unchanged mark touches nothing, and
device detection starts after the first frame, still filling the device list in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_runs import aio, quiet_env, until
from textual.widgets import Input, Static

from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.setup import SetupScreen
from tuitrain.ui.widgets.field_row import FieldRow


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    quiet_env(monkeypatch, tmp_path)


def test_breakpoint_class_matches_textuals_rule() -> None:
    screen = SetupScreen.__new__(SetupScreen)  # the rule only reads the class attribute
    assert screen._breakpoint_class(80) == "-narrow"
    assert screen._breakpoint_class(119) == "-narrow"
    assert screen._breakpoint_class(120) == "-wide"
    assert screen._breakpoint_class(200) == "-wide"


@pytest.mark.parametrize(("size", "expected", "other"), [((160, 48), "-wide", "-narrow"),
                                                         ((80, 24), "-narrow", "-wide")])
@aio
async def test_width_class_is_set_when_composing(tmp_path: Path, size: tuple[int, int],
                                                 expected: str, other: str) -> None:
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
async def test_error_line_is_built_on_first_error_and_hidden_again(tmp_path: Path) -> None:
    """Typed as a person would: the screen's own checks set and clear the mark."""
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await until(pilot, lambda: screen.result is not None)
        rows = list(screen.query(FieldRow))
        assert rows and not screen.query(".field-error"), "no error line until one is needed"
        row = screen.query_one("#row-epochs", FieldRow)
        field = screen.query_one("#f-epochs", Input)

        async def enter(text: str) -> None:
            field.focus()
            await pilot.pause()
            field.value = ""
            await pilot.press(*text)

        await enter("0")
        await until(pilot, lambda: row.error != "")
        await pilot.pause()
        line = row.query_one(".field-error", Static)
        assert line.display and str(line.content) == "train.epochs must be >= 1, got 0"
        assert row.has_class("-invalid") and row.control.has_class("-invalid")
        assert line.region.y == row.control.region.y + 1, "under the field"
        await enter("3")
        await until(pilot, lambda: row.error == "")
        await pilot.pause()
        assert not line.display and not row.has_class("-invalid")
        await enter("0")
        await until(pilot, lambda: row.error != "")
        await pilot.pause()
        assert len(row.query(".field-error")) == 1, "built once, then reused"
        assert line.display and str(line.content) == "train.epochs must be >= 1, got 0"


@aio
async def test_an_unchanged_mark_does_not_touch_the_field(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await until(pilot, lambda: screen.result is not None)
        row = screen.query_one("#row-lr", FieldRow)
        row.set_error("enter a number, e.g. 0.001")  # no await: no check result in between
        line = row._error_line
        assert line is not None
        updates: list[Any] = []
        original = line.update
        line.update = lambda *a, **k: (updates.append(a), original(*a, **k))[1]  # type: ignore
        row.set_error("enter a number, e.g. 0.001")
        assert updates == []
        row.set_error("something else")
        assert len(updates) == 1


@aio
async def test_device_detection_still_runs_after_the_first_frame(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await until(pilot, lambda: screen.form.device_picker.detected, timeout=30)
        assert screen.framework in screen._probing
