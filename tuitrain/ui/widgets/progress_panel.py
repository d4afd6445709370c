"""Epoch and step progress bars with the ETA and the current throughput.

One widget drawing two lines (rather than a dozen bar/label widgets): cheap to lay out and
restyle, so the dashboard's first frame stays fast; the bars take the width there is."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from tuitrain.cli.progress import fmt_duration, fmt_rate
from tuitrain.ui.state import RunState

LABEL = 14  # "epoch 123/300 "
BAR_MAX = 40
TAIL = 24  # "100%  ETA 00:00:00  …" beside the bar


def _eta_text(state: RunState) -> str:
    if state.status == "completed":
        return "done"
    if state.status == "paused":
        return "paused"
    if not state.live:
        return state.status
    eta = state.eta()
    return "ETA --:--" if eta is None else f"ETA {fmt_duration(eta)}"


def _rate_text(state: RunState) -> str:
    p = state.position
    return "" if p is None else fmt_rate(p.samples_per_sec)


def bar_line(label: str, done: int, total: int, note: str, width: int) -> Text:
    """`label ━━━━━━╺━━━━  50%  note` fitted to `width` columns."""
    fraction = done / total if total else 0.0
    bar = max(8, min(BAR_MAX, width - LABEL - TAIL))
    filled = int(fraction * bar)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{label} ".ljust(LABEL))
    text.append("━" * filled, "green" if fraction >= 1 else "magenta")
    text.append("━" * (bar - filled), "grey30")
    text.append(f" {fraction:>4.0%}  ", "bold")
    text.append(note, "dim")
    return text


class ProgressPanel(Widget):
    """Two rows: `epoch n/N [bar] % ETA` and `step s/S [bar] % samples/s`."""

    DEFAULT_CSS = """
    ProgressPanel { height: 2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state: RunState | None = None

    def show(self, state: RunState) -> None:
        self.state = state
        self.refresh()

    def render(self) -> RenderableType:
        state = self.state
        if state is None:
            return Text("")
        done, total = state.epoch_fraction()
        step, spe = state.step_fraction()
        width = self.size.width
        epoch = bar_line(f"epoch {done}/{total or '?'}", done, total, _eta_text(state), width)
        steps = bar_line(f"step {step}/{spe or '?'}", step, spe, _rate_text(state), width)
        return Text("\n").join([epoch, steps])
