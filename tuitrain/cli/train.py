"""`tuitrain train`, `resume` and `compare`: validate, create the run folder, start the runner
process, follow its events with a progress display, and stop it gracefully on Ctrl+C."""

from __future__ import annotations

import argparse
import sys
import time

from tuitrain import backends
from tuitrain.cli.options import overrides, runs_dir
from tuitrain.cli.progress import Progress
from tuitrain.core import launch
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.errors import UserError, choices_error
from tuitrain.core.events import RunEnded
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import EventTail, RunDir, find_run
from tuitrain.core.runs_index import compare_table, resume_spec

EXIT = {"completed": 0, "stopped": 130, "failed": 1}


def follow(run: RunDir, resume: bool = False) -> str:
    """Start the runner and show its progress until it ends; returns the final status.

    The first Ctrl+C asks for a graceful stop (finish the step, checkpoint); a second one
    within the grace period kills the runner."""
    proc = launch.start_runner(run, resume=resume)
    progress = Progress(sys.stdout)
    tail = EventTail(run.metrics)
    if resume:
        tail.offset = run.metrics.stat().st_size if run.metrics.exists() else 0
    stopping = False
    while True:
        try:
            for event in tail.read():
                progress.feed(event)
                if isinstance(event, RunEnded):
                    proc.wait()
                    return event.status
            if proc.poll() is not None:
                for event in tail.read():
                    progress.feed(event)
                return run.status() if run.status() != "interrupted" else "failed"
            time.sleep(0.05)
        except KeyboardInterrupt:
            if stopping:
                launch.kill_after(run, proc, 0)
                print("\nkilled the runner", file=sys.stderr)
                return "stopped"
            stopping = True
            print("\nstopping: finishing the step and saving a checkpoint (Ctrl+C again to kill)",
                  file=sys.stderr)
            launch.request_stop(run)


def cmd_train(args: argparse.Namespace) -> int:
    if not args.preset:
        raise UserError("train needs --preset NAME or a .toml path; see `tuitrain presets`")
    spec = backends.preflight(load_spec(args.preset, overrides(args)))
    run = RunDir.create(runs_dir(args), spec)
    print(f"run folder: {run.path}")
    status = follow(run)
    return EXIT.get(status, 1)


def cmd_resume(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args))
    # Checked here: a runner started without a checkpoint would overwrite the run's status.
    if CheckpointStore(run.checkpoints, "").latest() is None:
        raise UserError(f"{run.id}: no complete checkpoint to resume from; "
                        "start it again with `tuitrain train`")
    backends.preflight(resume_spec(run, args.epochs))
    print(f"resuming {run.path}")
    return EXIT.get(follow(run, resume=True), 1)


def cmd_compare(args: argparse.Namespace) -> int:
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if not frameworks:
        raise UserError("--frameworks needs one or more of: torch, tensorflow, keras")
    for fw in frameworks:
        if fw not in backends.MODULES:
            raise choices_error("framework", fw, backends.MODULES, where="--frameworks")
    specs = []
    for fw in frameworks:
        args.framework = fw
        specs.append(backends.preflight(load_spec(args.preset, overrides(args))))
    rows = []
    for spec in specs:
        run = RunDir.create(runs_dir(args), spec)
        print(f"\n== {spec.run.framework}: {run.path}")
        status = follow(run)
        rows.append((run, status))
        if status == "stopped":
            break
    print()
    print(compare_table([r for r, _ in rows]))
    return 0 if all(s == "completed" for _, s in rows) else 1
