"""The learning-rate finder's result on the setup screen: the loss against the rate, and
the suggested rate; Enter (or `y`) puts it into the settings, Escape keeps them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tuitrain.core.lr_find import Sweep


class LrPlotScreen(ModalScreen[bool]):
    """Dismisses with True to use the suggested rate."""

    BINDINGS = [  # noqa: RUF012
        Binding("enter,y", "answer(True)", "Use it"),
        Binding("escape,n", "answer(False)", "Keep mine"),
    ]

    def __init__(self, sweep: Sweep, plot: str) -> None:
        super().__init__(classes="prompt-screen")
        self.sweep = sweep
        self.plot = plot

    def compose(self) -> ComposeResult:
        s = self.sweep
        with Vertical(id="lr-plot-dialog"):
            yield Label(f"Learning-rate range test: {len(s.lrs)} steps"
                        + (", until the loss diverged" if s.diverged else ""),
                        id="prompt-question", markup=False)
            yield Static(Text.from_ansi(self.plot), id="lr-plot")
            yield Static(f"suggested: {s.suggested:.3g} (steepest descent of the smoothed "
                         "loss) — Enter: use it, Escape: keep the current rate"
                         if s.suggested is not None else
                         "no suggestion: the loss did not fall over this range — Escape",
                         id="prompt-hint", markup=False)

    def action_answer(self, use: bool) -> None:
        self.dismiss(use and self.sweep.suggested is not None)
