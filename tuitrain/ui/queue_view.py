"""The run queue as the runs screen shows it: a pane of the entries running and waiting
(`tuitrain queue`) with the scheduler's state, and taking a queued run off the queue before
its folder is deleted. Read in the screen's workers, never on the UI thread."""

from __future__ import annotations

import time

from tuitrain.core.errors import UserError
from tuitrain.core.rundir import RunDir

QUEUE_LINES = 5  # entries the queue pane lists; more are counted


def queue_pane() -> str:
    """The run queue's entries waiting and running (`tuitrain queue`), "" when there are
    none or the user never queued a run. Read in the scan worker."""
    from tuitrain.core import queue_db, scheduler

    folder = queue_db.queue_dir()[0]
    if not (folder / "queue.db").is_file():
        return ""
    try:
        queue = queue_db.Queue(folder)
    except UserError:
        return ""
    try:
        entries = queue.entries(("started", "queued"))
        if not entries:
            return ""
        waiting = sum(e.state == "queued" for e in entries)
        head = (f"queue: {len(entries) - waiting} running, {waiting} waiting, "
                f"{queue.max_parallel} at a time · scheduler "
                + ("running" if scheduler.is_running(queue) else
                   "not running: `tuitrain queue wait` starts it"))
    finally:
        queue.close()
    now = time.time()
    rows = [queue_db.entry_row(e, now) for e in sorted(entries, key=lambda e: e.state != "started")]
    cells = [r[:4] + r[5:] for r in rows]  # id, state, run, devices, for
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip()
             for cell in cells]
    more = len(lines) - QUEUE_LINES
    return "\n".join([head, *lines[:QUEUE_LINES]] + ([f"… {more} more"] if more > 0 else []))


def unqueue(run: RunDir) -> None:
    """Take a queued run off the run queue before its folder goes (UserError: it started)."""
    from tuitrain.core.queue_db import Queue

    queue = Queue()
    try:
        entry = queue.entry_for(run.path)
        if entry is not None:
            queue.remove(entry.id)
    finally:
        queue.close()
