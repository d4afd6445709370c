"""`tuitrain reproduce RUN`: the commands that make a run again, from its record."""

from __future__ import annotations

import argparse

from tuitrain.cli.options import runs_dir
from tuitrain.core.events import RunStarted, SettingChanged
from tuitrain.core.live import format_value
from tuitrain.core.provenance import reproduce_commands
from tuitrain.core.rundir import find_run


def cmd_reproduce(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args))
    events = run.events()
    versions: dict[str, str] = next(
        (e.versions for e in reversed(events) if isinstance(e, RunStarted)), {})
    changes = [(e.global_step, e.key, format_value(e.previous), format_value(e.value))
               for e in events if isinstance(e, SettingChanged)]
    print("\n".join(reproduce_commands(run.path, versions, changes)))
    return 0
