"""`tuitrain watch RUN` when its output is not a terminal (a pipe into `tee`, a file, `nohup`):
the run's progress as the plain lines `tuitrain train` prints, from the start of its history,
followed until the run ends. Nothing here draws on the screen or sends the runner anything."""

from __future__ import annotations

import time
from typing import TextIO

from tuitrain.cli.progress import Progress
from tuitrain.core.events import FINAL_STATUSES, RunEnded, RunStarted
from tuitrain.core.rundir import EventTail, RunDir

POLL_SECONDS = 0.2


def follow_lines(run: RunDir, out: TextIO) -> str:
    """Print the run's events as progress lines until it ends; returns its final status.

    It has ended at a `RunEnded` that no later `RunStarted` (a resume) follows, or when its
    runner is gone; then the status is what the run folder says (e.g. `crashed`)."""
    progress = Progress(out, live=False)
    tail = EventTail(run.metrics)
    while True:
        alive = run.is_alive()  # asked before reading: what it wrote before it died is read
        ended: RunEnded | None = None
        for event in tail.read():
            progress.feed(event)
            if isinstance(event, RunEnded):
                ended = event
            elif isinstance(event, RunStarted):
                ended = None
        if ended is not None:
            return ended.status
        if not alive:
            status = run.status()
            if status not in FINAL_STATUSES:
                out.write(f"run {status}: its runner is gone without writing a final status\n")
                out.flush()
            return status
        time.sleep(POLL_SECONDS)
