"""One labelled form field: a label, its control (an Input or a Select) and, under them, the
reason the value is wrong when it is. The error line is only built the first time the field
is wrong: most fields never are, and every widget costs start-up time."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label, Static


class FieldRow(Widget):
    """A label and a control on one line, with an error line that shows only when needed
    (a two-column grid: no container per line)."""

    def __init__(self, label: str, control: Widget, *, key: str, id: str | None = None) -> None:
        super().__init__(id=id, classes="field-row")
        self.key = key
        self.label = label
        self.control = control
        self._error = ""
        self._error_line: Static | None = None

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="field-label")
        yield self.control

    def set_error(self, message: str | None) -> None:
        """Mark the field invalid with `message`, or clear the mark with None."""
        if (message or "") == self._error and self.has_class("-invalid") == bool(message):
            return  # unchanged: updating the error line would relayout the screen
        self._error = message or ""
        if self._error_line is not None:
            self._error_line.update(self._error)
        elif message:
            self._error_line = Static(self._error, classes="field-error", markup=False)
            self.mount(self._error_line)
        self.set_class(bool(message), "-invalid")
        self.control.set_class(bool(message), "-invalid")

    @property
    def error(self) -> str:
        """The reason shown at the field, '' when it is valid."""
        return self._error
