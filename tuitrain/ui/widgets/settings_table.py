"""The run's settings as one table: a line per setting (label, value) and, under a wrong value,
the reason. One widget draws them all, so the setup screen's first frame does not wait for
a dozen inputs and selects (each costs several milliseconds to build and style).

Keys, on the focused table: ↑/↓ move between settings; ←/→ change a choice in place;
Enter or Space open a choice's list (`ChoiceScreen`); typing edits a number or the data
path (Backspace deletes, Ctrl+U clears), and Enter there asks to start. A click picks a
setting and opens its list."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Offset, Region
from textual.message import Message
from textual.widget import Widget

from tuitrain.core import model_file
from tuitrain.core.spec import RunSpec
from tuitrain.ui.settings import TYPABLE, Field, Settings

LABEL_WIDTH = 15


class SettingsTable(Widget, can_focus=True):
    """Every setting of the run on its own line; `settings` holds what they say."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("left", "cycle(-1)", "Change", show=False),
        Binding("right", "cycle(1)", "Change", key_display="←→"),
        Binding("enter", "open", "Choose"),
        Binding("space", "open", "Choose", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "settings-table--label", "settings-table--cursor", "settings-table--error",
        "settings-table--hint",
    }

    class Edited(Message):
        """A setting changed: `name` is the field, `key` the preset key it overrides."""

        def __init__(self, name: str, key: str) -> None:
            super().__init__()
            self.name = name
            self.key = key

    class Submitted(Message):
        """Enter on a number or path: start the run."""

    def __init__(self, framework: str = "torch", keras_backend: str = "tensorflow",
                 *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.settings = Settings(framework, keras_backend, model_file.discover(Path.cwd()))
        self.cursor = "framework"  # the name of the field under the cursor: the first
        self._lines: list[str | None] = []  # the field (or None: its error) on each line

    # --- drawing ------------------------------------------------------------------------

    @property
    def current(self) -> Field:
        return self.settings[self.cursor]

    def render(self) -> RenderableType:
        label_style = self.get_component_rich_style("settings-table--label")
        cursor_style = self.get_component_rich_style("settings-table--cursor")
        error_style = self.get_component_rich_style("settings-table--error")
        hint_style = self.get_component_rich_style("settings-table--hint")
        width = max(self.content_region.width, LABEL_WIDTH + 8)
        rows: list[RenderableType] = []
        self._lines = []
        for f in self.settings.shown:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f.label.ljust(LABEL_WIDTH), style=error_style if f.error else label_style)
            at_cursor = self.has_focus and f.name == self.cursor
            room = width - LABEL_WIDTH - 2  # the value, then the text cursor or " ▾"
            shown = f.display
            if at_cursor and not f.is_choice and len(shown) > room:
                shown = "…" + shown[-(room - 1):]  # while typing, the end stays in view
            line.append(shown)
            if f.is_choice:
                line.append(" ▾", style=hint_style)
            elif at_cursor:
                line.append(" ", style="reverse")
            if at_cursor:
                line.pad_right(max(0, width - line.cell_len))
                line.stylize(cursor_style)
            rows.append(line)
            self._lines.append(f.name)
            if f.error:
                error = Text(f.error, style=error_style)
                rows.append(Padding(error, (0, 0, 0, LABEL_WIDTH)))
                wrap = len(error.wrap(self.app.console, width - LABEL_WIDTH))
                self._lines.extend([None] * wrap)
        return Group(*rows)

    def changed(self) -> None:
        """Redraw after the settings changed (their number of lines may have too)."""
        if not self.settings[self.cursor].shown:  # the data path or the Keras backend went:
            names = list(self.settings.fields)  # to the setting above it
            above = names[:names.index(self.cursor)]
            self.cursor = next(n for n in reversed(above) if self.settings[n].shown)
        self.refresh(layout=True)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- what the screen asks -------------------------------------------------------------

    def load(self, spec: RunSpec) -> None:
        self.settings.load(spec)
        self.changed()

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.settings.restore(snapshot)
        self.changed()

    def set_value(self, key: str, value: Any) -> bool:
        done = self.settings.set_value(key, value)
        self.changed()
        return done

    def mark(self, errors: dict[str, str]) -> None:
        if self.settings.mark(errors):
            self.changed()

    def set_devices(self, framework: str, result: dict[str, Any]) -> None:
        self.settings.set_devices(framework, result)
        self.refresh()

    def choose_device(self, device: str, devices: str | None = None) -> None:
        self.settings.choose_device(device, devices)
        self.refresh()

    def move_to(self, name: str) -> None:
        """Put the cursor on a field (e.g. the first wrong one) and focus the table."""
        self.cursor = name
        self.focus()
        self.refresh()

    def choose(self, name: str, value: str) -> None:
        """Set a field as a person would, telling the screen when it changed."""
        if self.settings.choose(name, value):
            self._edited(name)

    def _edited(self, name: str) -> None:
        self.changed()
        self.post_message(self.Edited(name, self.settings[name].key))

    # --- keys and mouse -------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        names = [f.name for f in self.settings.shown]
        index = names.index(self.cursor) + step
        if 0 <= index < len(names):
            self.cursor = names[index]
            self.refresh()
            self._show_cursor()

    def action_cycle(self, step: int) -> None:
        if self.current.is_choice and self.settings.cycle(self.cursor, step):
            self._edited(self.cursor)

    def action_open(self) -> None:
        """A choice: its list. A number or path: ask to start."""
        if not self.current.is_choice:
            self.post_message(self.Submitted())
            return
        from tuitrain.ui.screens.choice import ChoiceScreen

        name = self.cursor
        box = self.content_region  # on screen: the list drops down under the cursor's line
        at = Offset(box.x + LABEL_WIDTH, box.y + self._cursor_line() + 1)
        self.app.push_screen(
            ChoiceScreen(self.current.label, self.current.options, self.current.value, at),
            lambda value: None if value is None else self.choose(name, value))

    def _cursor_line(self) -> int:
        """The cursor's line in the table (as last drawn)."""
        return self._lines.index(self.cursor) if self.cursor in self._lines else 0

    def _show_cursor(self) -> None:
        """Scroll every scrolling container around the table so the cursor's line is in view
        (Textual's `scroll_to_widget` walk, for one line rather than the whole widget)."""
        box = self.virtual_region_with_margin
        region = Region(box.x, box.y + self.gutter.top + self._cursor_line(), box.width, 1)
        widget: Widget = self
        while isinstance(widget.parent, Widget):
            container = widget.parent
            scrolled = container.scroll_to_region(region, animate=False, immediate=True)
            region = region.translate(-scrolled).translate(container.styles.gutter.top_left)
            region = region.translate(container.virtual_region_with_margin.offset)
            widget = container

    def on_key(self, event: events.Key) -> None:
        f = self.current
        if f.is_choice:
            return
        if event.key == "backspace":
            text = f.value[:-1]
        elif event.key == "ctrl+u":
            text = ""
        elif event.is_printable and event.character and (
                f.kind == "path" or event.character in TYPABLE.get(f.kind, "")):
            text = f.value + event.character
        else:
            return
        event.stop()
        event.prevent_default()
        self.choose(f.name, text)

    def on_click(self, event: events.Click) -> None:
        y = event.y - self.gutter.top
        name = self._lines[y] if 0 <= y < len(self._lines) else None
        if name is None:
            return
        self.cursor = name
        self.focus()
        self.refresh()
        if self.current.is_choice:
            self.action_open()
