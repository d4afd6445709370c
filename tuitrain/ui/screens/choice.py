"""A setting's list of choices, dropped down under the setting like a select's: ↑/↓ and
Enter (or a click) pick one, Escape (or a click outside) keeps the current choice."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Offset
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

MAX_HEIGHT = 14  # lines, borders included


class ChoiceScreen(ModalScreen[str | None]):
    """Dismisses with the chosen value, or None when nothing was chosen."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], current: str,
                 at: Offset) -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.current = current
        self.at = at

    def compose(self) -> ComposeResult:
        choices = OptionList(*(Option(label, id=value) for label, value in self.options),
                             id="choice-list")
        choices.border_title = self.title_text
        values = [value for _, value in self.options]
        if self.current in values:
            choices.highlighted = values.index(self.current)
        # Under the setting when the list fits there, above the screen's bottom when not.
        width = max(len(self.title_text) + 2, *(len(label) for label, _ in self.options)) + 4
        height = min(len(self.options) + 2, MAX_HEIGHT)
        size = self.app.size
        choices.styles.width = width
        choices.styles.max_height = MAX_HEIGHT
        choices.styles.offset = (max(0, min(self.at.x, size.width - width)),
                                 max(0, min(self.at.y, size.height - height)))
        yield choices

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_click(self, event: events.Click) -> None:
        if event.widget is self:  # outside the list
            self.dismiss(None)
