"""A one-value question in a modal dialog: the value in an input, Enter to submit, Escape to
cancel. The value is checked as it is submitted (`check` returns what is wrong, or None) and
the dialog stays open, saying why, until it passes."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class PromptScreen(ModalScreen[str | None]):
    """Dismisses with the submitted text, or None when cancelled."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]  # noqa: RUF012

    def __init__(self, question: str, value: str, check: Callable[[str], str | None],
                 hint: str = "") -> None:
        super().__init__(classes="prompt-screen")
        self.question = question
        self.value = value
        self.check = check
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog"):
            yield Label(self.question, id="prompt-question", markup=False)
            if self.hint:
                yield Static(self.hint, id="prompt-hint", markup=False)
            yield Input(self.value, id="prompt-input", select_on_focus=True)
            yield Static("", id="prompt-error", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.check(event.value.strip())
        if problem:
            self.query_one("#prompt-error", Static).update(problem)
            return
        self.dismiss(event.value.strip())
