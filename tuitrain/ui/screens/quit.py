"""The quit dialog shown when a run is still live: stop and save, keep training in the
background, or cancel. It returns the choice; the app acts on it."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

QuitChoice = Literal["stop", "background", "cancel"]


class QuitScreen(ModalScreen[QuitChoice]):
    """Asks what happens to the live run(s) when the dashboard closes."""

    BINDINGS = [  # noqa: RUF012
        Binding("s", "choose('stop')", "Stop and save"),
        Binding("b,k", "choose('background')", "Keep training"),
        Binding("escape,c,n", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids

    def compose(self) -> ComposeResult:
        what = self.run_ids[0] if len(self.run_ids) == 1 else f"{len(self.run_ids)} runs"
        with Vertical(id="quit-dialog"):
            yield Static(f"[b]{what}[/b] is still training.", id="quit-title")
            yield Static("Stop it (checkpoint first, resumable later), or leave it training in "
                        "the background and re-attach with `tuitrain watch`?", id="quit-text")
            with Horizontal(id="quit-buttons"):
                yield Button("Stop and save (s)", id="stop", variant="error")
                yield Button("Keep training (b)", id="background", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#background", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)  # type: ignore[arg-type]

    def action_choose(self, choice: QuitChoice) -> None:
        self.dismiss(choice)
