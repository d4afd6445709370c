"""The log pane: the runner's messages, warnings and errors, newest at the bottom."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

LEVEL_STYLE = {"info": "dim", "warning": "yellow", "error": "bold red"}
MAX_LINES = 1000


class LogPane(RichLog):
    """A bounded, wrapping log of run messages with their (run-recorded) times."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, wrap=True, markup=False, highlight=False)
        self.border_title = "log"
        self.counts: dict[str, int] = {}

    def add(self, level: str, text: str, when: float) -> None:
        """Append one message; multi-line texts (tracebacks) keep their lines."""
        self.counts[level] = self.counts.get(level, 0) + 1
        stamp = time.strftime("%H:%M:%S", time.localtime(when))
        line = Text(f"{stamp} ", "dim")
        line.append(f"{level:<8}", LEVEL_STYLE.get(level, ""))
        body = text.rstrip()
        line.append(body, "red" if level == "error" else ("yellow" if level == "warning" else ""))
        self.write(line)
