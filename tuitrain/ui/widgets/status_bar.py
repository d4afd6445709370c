"""The dashboard's status line: run, status, framework, device, precision, parameters, elapsed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tuitrain.cli.progress import fmt_duration
from tuitrain.ui.state import RunState

STATUS_STYLE = {
    "running": "bold green",
    "paused": "bold yellow",
    "completed": "bold cyan",
    "stopped": "bold magenta",
    "failed": "bold red",
    "crashed": "bold red",
}
PRECISION = {"32": "fp32", "bf16": "bf16 mixed", "16": "fp16 mixed"}


def status_text(state: RunState, now: float | None = None) -> Text:
    """One line, most important first: `● running  01:02 · mlp-digits · torch · cpu: … ·
    fp32 · 1,234 params · run-id` (elapsed, then any error, then what the run is)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"● {state.status}", STATUS_STYLE.get(state.status, "bold"))
    if state.loaded < 1.0:
        text.append(f"  loading history {state.loaded:.0%}", "italic yellow")
    if state.first_time is not None:
        text.append(f"  {fmt_duration(state.elapsed(now))}")
    if state.error:
        text.append(f"  {state.error.strip().splitlines()[-1]}", "red")
    s = state.started
    parts: list[str] = []
    if s is not None:
        parts = [s.preset, s.framework, f"{s.device}: {s.device_name}",
                 PRECISION.get(s.precision, s.precision), f"{s.params:,} params"]
        if s.resumed:
            parts.append(f"resumed at step {s.start_step:,}")
    elif state.preset:
        parts = [state.preset, state.framework]
    for part in parts:
        text.append(" · ", "dim")
        text.append(part)
    text.append(" · ", "dim")
    text.append(state.run_id, "dim")
    return text


class StatusBar(Static):
    """Shows `status_text` for the dashboard's `RunState`."""

    def show(self, state: RunState, now: float | None = None) -> None:
        self.update(status_text(state, now))
