"""The baselines the dashboard's figures are judged against: a bare Textual app.

`python -m benchmarks.bare_app`: one Static, started like `tuitrain` (figure 8, first frame).

`python -m benchmarks.bare_app RUN_FOLDER`: the least a Textual app must do to show a live run
as the dashboard does, for figures 4 and 5: a thread tails the run's metrics.jsonl every
0.1 s (the dashboard's poll interval) and posts what it read; a 10 Hz timer repaints a
full-screen Static with the latest batch events, only when something new came; `?` shows a
modal screen of text (closed by escape or `?`) and `m` a notification `smoothing 0.9/off/0.6`, the
two keys the latency figure presses in both apps."""

import sys

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

POLL = 0.1
SMOOTHING = ("0.9", "off", "0.6")
HELP_MARK = "Bare app keys"


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("bare textual app")


class Lines(Message):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines


class HelpText(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark", "dismiss", "Close")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        text = "\n".join(
            f"{HELP_MARK}\n" if i == 0 else f"key {i:2}: what key {i} does, in a line of plain text"
            for i in range(40)
        )
        yield Static(text)


class BareLive(App[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("question_mark", "help", "Help"),
        Binding("m", "smoothing", "Smooth"),
    ]

    def __init__(self, run_folder: str) -> None:
        super().__init__()
        self.metrics = f"{run_folder}/metrics.jsonl"
        self.latest: list[str] = []
        self.dirty = False
        self.smoothing = 0

    def compose(self) -> ComposeResult:
        yield Static("waiting for the run", id="latest")

    def on_mount(self) -> None:
        self.run_worker(self.tail, thread=True)
        self.set_interval(POLL, self.repaint)

    def tail(self) -> None:
        import json
        import time

        from textual.worker import get_current_worker

        worker = get_current_worker()
        pos, rest = 0, b""
        while not worker.is_cancelled:
            try:
                with open(self.metrics, "rb") as f:
                    f.seek(pos)
                    data = rest + f.read()
                    pos = f.tell()
            except FileNotFoundError:
                data = b""
            *complete, rest = data.split(b"\n")
            lines = []
            for raw in complete:
                event = json.loads(raw)
                if event.get("event") == "batch":
                    values = " ".join(f"{k} {v:.4f}" for k, v in event["metrics"].items())
                    lines.append(f"step {event['global_step']:>8}  {values}  lr {event['lr']:.3g}")
            if lines:
                self.post_message(Lines(lines))
            time.sleep(POLL)

    def on_lines(self, message: Lines) -> None:
        self.latest = (self.latest + message.lines)[-40:]
        self.dirty = True

    def repaint(self) -> None:
        if self.dirty:
            self.dirty = False
            self.query_one("#latest", Static).update("\n".join(self.latest))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpText):
            if not self.is_screen_installed("help"):  # built once and kept, as tuitrain does
                self.install_screen(HelpText(), "help")
            self.push_screen("help")

    def action_smoothing(self) -> None:
        self.notify(f"smoothing {SMOOTHING[self.smoothing % 3]}", timeout=2)
        self.smoothing += 1


if __name__ == "__main__":
    (BareLive(sys.argv[1]) if len(sys.argv) > 1 else Bare()).run()
