"""One labelled form field: a label, its control (an Input or a Select) and, under them, the
reason the value is wrong when it is."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Static


class FieldRow(Vertical):
    """A label and a control on one line, with an error line that shows only when needed."""

    def __init__(self, label: str, control: Widget, *, key: str, id: str | None = None) -> None:
        super().__init__(id=id, classes="field-row")
        self.key = key
        self.label = label
        self.control = control
        self._error = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-line"):
            yield Label(self.label, classes="field-label")
            yield self.control
        yield Static("", classes="field-error", markup=False)

    def set_error(self, message: str | None) -> None:
        """Mark the field invalid with `message`, or clear the mark with None."""
        self._error = message or ""
        self.query_one(".field-error", Static).update(self._error)
        self.set_class(bool(message), "-invalid")
        self.control.set_class(bool(message), "-invalid")

    @property
    def error(self) -> str:
        """The reason shown at the field, '' when it is valid."""
        return self._error
