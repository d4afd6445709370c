"""The dashboard's status line: status, elapsed, error, preset, framework, device, precision,
parameters, run id; parts give way by priority when the terminal is narrow."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from tuitrain.cli.progress import fmt_duration
from tuitrain.ui.fit_width import Piece, fit_pieces, shorten
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
SEPARATOR = " · "

# The parts that give way when the line is too narrow, least important first; the status
# word, the loading fraction, the elapsed time and an error always stay (an error is cut at
# a word when it must be).
GIVE_WAY = ("run_id", "precision", "params", "resumed", "device", "framework", "preset")
Rendering = tuple[str, str]  # text (with the separator before it), style


def _parts(state: RunState, now: float | None) -> dict[str, tuple[Rendering, ...]]:
    """Every part of the line in reading order, each as its renderings, widest first."""
    parts: dict[str, tuple[Rendering, ...]] = {
        "status": ((f"● {state.status}", STATUS_STYLE.get(state.status, "bold")),)}
    if state.loaded < 1.0:
        parts["loading"] = ((f"  loading history {state.loaded:.0%}", "italic yellow"),)
    if state.first_time is not None:
        parts["elapsed"] = ((f"  {fmt_duration(state.elapsed(now))}", ""),)
    if state.error:
        parts["error"] = ((f"  {state.error.strip().splitlines()[-1]}", "red"),)
    s = state.started
    facts: dict[str, tuple[str, ...]] = {}
    if s is not None:
        facts = {"preset": (s.preset,), "framework": (s.framework,),
                 "device": ((f"{s.parallel} · {s.device_name}", s.parallel) if s.parallel
                            else (f"{s.device}: {s.device_name}", s.device)),
                 "precision": (PRECISION.get(s.precision, s.precision),),
                 "params": (f"{s.params:,} params",)}
        if s.resumed:
            facts["resumed"] = (f"resumed at step {s.start_step:,}",)
    elif state.preset:
        facts = {"preset": (state.preset,), "framework": (state.framework,)}
    for key, texts in facts.items():
        parts[key] = tuple((f"{SEPARATOR}{t}", "") for t in texts)
    parts["run_id"] = ((f"{SEPARATOR}{state.run_id}", "dim"),)
    return parts


def status_text(state: RunState, now: float | None = None, width: int | None = None) -> Text:
    """One line, most important first: `● running  01:02 · mlp-digits · torch · cpu: … ·
    fp32 · 1,234 params · run-id`. In `width` cells the least important parts give way
    (the run id first, then precision, parameters, the device's name, …); an error still
    too long is cut at a word."""
    parts = _parts(state, now)
    pieces = {key: Piece(tuple(len(text) for text, _ in options), droppable=key in GIVE_WAY)
              for key, options in parts.items()}
    room = 10**6 if width is None else width
    chosen = fit_pieces(pieces, [k for k in GIVE_WAY if k in parts], room, gap=0)
    shown = {key: parts[key][i] for key, i in chosen.items()}
    over = sum(len(t) for t, _ in shown.values()) - room
    if over > 0:  # only what may not go is left: cut the error, else the last part
        key = "error" if "error" in shown else list(shown)[-1]
        part, style = shown[key]
        shown[key] = (shorten(part, max(1, len(part) - over)), style)
    text = Text(no_wrap=True, overflow="ellipsis")
    for part, style in shown.values():
        if part.startswith(SEPARATOR):
            text.append(SEPARATOR, "dim")
            part = part[len(SEPARATOR):]
        text.append(part, style)
    return text


class StatusBar(Widget):
    """Shows `status_text` for the dashboard's `RunState`, fitted to its width (again on
    every resize)."""

    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state: RunState | None = None
        self.now: float | None = None

    def show(self, state: RunState, now: float | None = None) -> None:
        self.state, self.now = state, now
        self.refresh()

    def render(self) -> RenderableType:
        if self.state is None:
            return Text("")
        return status_text(self.state, self.now, self.content_size.width)
