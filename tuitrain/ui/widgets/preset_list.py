"""The list of presets, each with its one-line description; moving the cursor chooses one,
Enter asks to start it."""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tuitrain.core.presets import PresetFile


def preset_prompt(preset: PresetFile) -> Content:
    """Name in bold, then the task, then the description dimmed (Textual's own Content: the
    list draws it without converting from Rich first)."""
    return Content.assemble((preset.name, "bold"), (f"  {preset.task}", "italic"),
                            (f"\n{preset.description or preset.dataset}", "dim"))


class PresetList(OptionList):
    """Presets by name; posts `Chosen` as the cursor moves and `Confirmed` on Enter."""

    BINDINGS = [Binding("enter", "select", "Start")]  # noqa: RUF012

    class Chosen(Message):
        """The highlighted preset changed."""

        def __init__(self, preset: str) -> None:
            super().__init__()
            self.preset = preset

    class Confirmed(Message):
        """Enter was pressed on a preset."""

        def __init__(self, preset: str) -> None:
            super().__init__()
            self.preset = preset

    def __init__(self, presets: list[PresetFile], *, id: str | None = None) -> None:
        super().__init__(*(Option(preset_prompt(p), id=p.name) for p in presets), id=id)
        self.names = [p.name for p in presets]

    def select_name(self, name: str) -> None:
        """Move the cursor to a preset by name (no message if it is already there)."""
        if name in self.names:
            self.highlighted = self.names.index(name)
            self.call_after_refresh(self.scroll_to_highlight)

    def on_resize(self) -> None:
        # Option heights change with the width (descriptions wrap): keep the cursor in view.
        self.call_after_refresh(self.scroll_to_highlight)

    @property
    def current(self) -> str | None:
        """The highlighted preset's name."""
        if self.highlighted is None or not self.names:
            return None
        return self.names[self.highlighted]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        # A highlight the cursor has already left (e.g. the first option's, on mount) is stale.
        if event.option.id and event.option_index == self.highlighted:
            self.post_message(self.Chosen(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Confirmed(event.option.id))
