"""Asks what to compare: a preset, the frameworks (installed ones ticked), and optionally a
number of epochs. Dismisses with a `CompareRequest`, or None when cancelled."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from tuitrain.core.catalog import FRAMEWORKS
from tuitrain.core.presets import list_presets
from tuitrain.ui.settings import framework_label, package_installed


@dataclass(frozen=True)
class CompareRequest:
    """What the person asked to compare."""

    preset: str
    frameworks: tuple[str, ...]
    epochs: int | None = None


class CompareDialog(ModalScreen[CompareRequest | None]):
    """Preset, frameworks and epochs for `tuitrain compare`."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, preset: str | None = None) -> None:
        super().__init__(classes="compare-dialog-screen")
        self.presets = [p.name for p in list_presets()]
        self.preset = preset if preset in self.presets else None

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-dialog"):
            yield Label("Compare frameworks", id="compare-dialog-title")
            yield Static("Trains the preset once per framework, one after the other, and "
                         "shows the table when done.", classes="dim-note")
            with Horizontal(classes="field-line"):
                yield Label("preset", classes="field-label")
                yield Select([(n, n) for n in self.presets], value=self.preset or Select.NULL,
                             prompt="choose a preset", compact=True, id="compare-preset")
            for name in FRAMEWORKS:
                installed = package_installed(name)
                yield Checkbox(framework_label(name, installed), value=installed,
                               disabled=not installed, id=f"compare-{name}", compact=True)
            with Horizontal(classes="field-line"):
                yield Label("epochs", classes="field-label")
                yield Input(placeholder="the preset's", type="integer", compact=True,
                            id="compare-epochs")
            yield Static("", id="compare-error", markup=False)
            with Horizontal(id="compare-buttons"):
                yield Button("Start", id="compare-start", variant="primary")
                yield Button("Cancel", id="compare-cancel")

    def on_mount(self) -> None:
        self.query_one("#compare-preset", Select).focus()

    def request(self) -> CompareRequest:
        """The request, or ValueError with the reason it is incomplete."""
        preset = self.query_one("#compare-preset", Select).value
        if not isinstance(preset, str):
            raise ValueError("choose a preset")
        chosen = tuple(f for f in FRAMEWORKS if self.query_one(f"#compare-{f}", Checkbox).value)
        if len(chosen) < 2:
            raise ValueError("tick at least two frameworks")
        text = self.query_one("#compare-epochs", Input).value.strip()
        try:
            epochs = int(text) if text else None
        except ValueError:
            raise ValueError("epochs must be a whole number") from None
        if epochs is not None and epochs < 1:
            raise ValueError("epochs must be at least 1")
        return CompareRequest(preset, chosen, epochs)

    def submit(self) -> None:
        try:
            self.dismiss(self.request())
        except ValueError as exc:
            self.query_one("#compare-error", Static).update(str(exc))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "compare-start":
            self.submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def action_cancel(self) -> None:
        self.dismiss(None)
