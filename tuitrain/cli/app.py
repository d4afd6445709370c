"""`tuitrain` (the dashboard) and `tuitrain watch RUN`: build the Textual app and run it.

Mistakes found before the app opens (an unknown preset, an invalid `--start` spec, a run
that does not exist) print one line and exit 2, like every other command. The app needs a
terminal: with stdout a pipe or a file, `watch` prints plain progress lines instead, and the
dashboard refuses with a hint (exit 2) rather than write escape codes into it."""

from __future__ import annotations

import argparse
import gc
import sys

from tuitrain.cli.options import overrides, runs_dir
from tuitrain.core.errors import UserError


def cmd_app(args: argparse.Namespace) -> int:
    """`tuitrain [--preset P] [options] [--start]`: the setup screen, pre-filled; with
    `--start`, start the run at once and show its dashboard."""
    # No garbage collection until the first frame is out (`TuitrainApp.on_ready`): start-up
    # makes little garbage, and the full collection its allocations would trigger scans
    # every object of Textual's import, a fifth of the time to the first frame.
    gc.disable()
    try:
        return _run_app(args)
    finally:
        gc.enable()


def _run_app(args: argparse.Namespace) -> int:
    values = overrides(args)
    spec = None
    if args.start:
        if not args.preset:
            raise UserError("--start needs --preset NAME (or a .toml path); see `tuitrain presets`")
        from tuitrain.backends import preflight
        from tuitrain.core.presets import load_spec

        spec = preflight(load_spec(args.preset, values))
    elif args.preset:
        from tuitrain.core.presets import load_spec

        load_spec(args.preset, values)  # a bad preset is one line here, not a broken screen
    if not sys.stdout.isatty():
        raise UserError(
            "the dashboard needs a terminal and stdout is not one; for plain "
            "progress lines use `tuitrain train -p PRESET ...`, or "
            "`tuitrain watch RUN` to follow a run"
        )
    from tuitrain.ui.app import TuitrainApp

    if spec is not None:
        app = TuitrainApp(runs_dir(args), start=spec)
    else:
        app = TuitrainApp(runs_dir(args), preset=args.preset, overrides=values)
    return int(app.run() or 0)


def cmd_watch(args: argparse.Namespace) -> int:
    """`tuitrain watch RUN`: the dashboard of an existing run, live or finished; without a
    terminal, its progress as plain lines until it ends, with `train`'s exit codes."""
    from tuitrain.core.rundir import find_run, queued_note

    run = find_run(args.run, runs_dir(args))
    if run.status_or("crashed") == "queued":
        raise UserError(queued_note(run.id))
    if not sys.stdout.isatty():
        from tuitrain.cli.train import EXIT
        from tuitrain.cli.watch_lines import follow_lines

        return EXIT.get(follow_lines(run, sys.stdout), 1)
    from tuitrain.ui.app import TuitrainApp

    return int(TuitrainApp(runs_dir(args), watch=run).run() or 0)
