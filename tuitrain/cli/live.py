"""`tuitrain set RUN KEY=VALUE ...`: change a live setting of a running run (core/live.py),
then wait until the runner has applied it and say from which step."""

from __future__ import annotations

import argparse
import sys
import time

from tuitrain.cli.options import runs_dir
from tuitrain.core import control
from tuitrain.core.errors import UserError
from tuitrain.core.events import CheckpointSaved, RunEnded, SettingChanged
from tuitrain.core.live import format_value, parse_settings
from tuitrain.core.rundir import EventTail, find_run, queued_note


def cmd_set(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args))
    settings = parse_settings(args.settings)
    if not run.is_alive():
        status = run.status_or("crashed")
        raise UserError(queued_note(run.id) if status == "queued" else
                        f"{run.id} is not running (it is {status}); settings change live "
                        "only while a run trains")
    tail = EventTail(run.metrics)
    tail.offset = run.metrics.stat().st_size if run.metrics.exists() else 0
    # A save in flight when this was asked ends later; its step is the summary's, or older.
    asked_at = int(run.summary().get("global_step", 0))
    pending = set()
    for setting in settings:
        if setting.key == "checkpoint":
            control.send(run.control, "checkpoint")
        else:
            control.send(run.control, "set", setting.key, setting.value)
        pending.add(setting.key)
    deadline = time.monotonic() + args.wait
    while pending and time.monotonic() < deadline:
        for event in tail.read():
            if isinstance(event, SettingChanged) and event.key in pending:
                pending.discard(event.key)
                print(f"{run.id}: {event.key} {format_value(event.previous)} -> "
                      f"{format_value(event.value)} from step {event.global_step} "
                      f"(epoch {event.epoch + 1})")
            elif (isinstance(event, CheckpointSaved) and "checkpoint" in pending
                  and event.global_step > asked_at):
                pending.discard("checkpoint")
                print(f"{run.id}: checkpoint saved at step {event.global_step}: {event.path}")
            elif isinstance(event, RunEnded) and pending:
                print(f"{run.id} ended ({event.status}) before applying everything asked",
                      file=sys.stderr)
                return 1
        time.sleep(0.05)
    if pending:
        print(f"{run.id}: sent; not applied after {args.wait:g} s (the runner applies settings "
              "between blocks of steps; see `tuitrain watch`)", file=sys.stderr)
        return 1
    return 0
