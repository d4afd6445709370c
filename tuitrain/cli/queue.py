"""`tuitrain queue`: add runs to the queue (train's options), list it, take entries off it, and
wait for it to empty. The queue and its scheduler are core/queue_db.py and core/scheduler.py;
a queued run's folder exists from the moment it is queued, with the status `queued`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from tuitrain import backends
from tuitrain.cli.listing import table
from tuitrain.cli.options import overrides, runs_dir
from tuitrain.core import finetune, scheduler
from tuitrain.core.atomic import remove_path
from tuitrain.core.errors import UserError
from tuitrain.core.presets import load_spec
from tuitrain.core.queue_db import QUEUE_HEADER, Entry, Queue, entry_row, queue_dir
from tuitrain.core.run_meta import RunMeta, write_meta
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec


def queued_summary(run_spec: RunSpec) -> dict[str, object]:
    """A run's summary until its runner writes one: `queued`, and what it will train."""
    return {"status": "queued", "preset": run_spec.name, "framework": run_spec.run.framework,
            "epochs": run_spec.train.epochs, "queued": time.time()}


def make_queued_run(run_spec: RunSpec, runs: Path, meta: RunMeta | None = None) -> RunDir:
    """A new run folder with the status `queued` (and `meta`: a sweep's trial)."""
    run = RunDir.create(runs, run_spec)
    try:
        run.write_summary(queued_summary(run_spec))
        if meta is not None:
            write_meta(run.path, meta)
    except BaseException:
        remove_path(run.path)
        raise
    return run


def queue_run(queue: Queue, run_spec: RunSpec, runs: Path, meta: RunMeta | None = None
              ) -> Entry:
    """Make the run's folder (`make_queued_run`) and its queue entry; nothing is left
    behind when either fails."""
    run = make_queued_run(run_spec, runs, meta)
    try:
        return queue.add(run.path, run_spec.run.device, run_spec.run.devices,
                         sweep=meta.sweep if meta is not None else "")
    except BaseException:
        remove_path(run.path)
        raise


def cmd_add(args: argparse.Namespace) -> int:
    if not args.preset:
        raise UserError("queue add needs --preset NAME or a .toml path; see `tuitrain presets`")
    spec = finetune.resolve_init(load_spec(args.preset, overrides(args)), runs_dir(args))
    spec = backends.preflight(spec)
    queue = Queue()
    if args.max_parallel is not None:
        queue.max_parallel = args.max_parallel
    entry = queue_run(queue, spec, runs_dir(args))
    ahead = sum(1 for e in queue.entries(("queued",)) if e.id < entry.id)
    started = scheduler.ensure_running(queue)
    print(f"queued #{entry.id}: {entry.run}\n"
          f"  {ahead} waiting ahead of it; {queue.max_parallel} run(s) at a time"
          + ("; scheduler started" if started else "") + "\n"
          f"  list: tuitrain queue   remove: tuitrain queue rm {entry.id}   "
          f"wait: tuitrain queue wait")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    queue = Queue()
    states = ("queued", "started", "ended") if args.all else ("queued", "started")
    entries = queue.entries(states)
    if args.json:
        print(json.dumps([{**asdict(e), "run": str(e.run)} for e in entries], indent=2))
        return 0
    folder, why = queue_dir()
    running = scheduler.is_running(queue)
    print(f"queue {queue.folder}" + (f" ({why})" if why and folder == queue.folder else "")
          + f": {queue.max_parallel} at a time, scheduler "
          + ("running" if running else "not running"))
    if not entries:
        print("nothing queued" + ("" if args.all else "; `tuitrain queue --all` shows ended"))
        return 0
    now = time.time()
    print(table(list(QUEUE_HEADER), [entry_row(e, now) for e in entries]))
    if not running and queue.pending():
        print("the scheduler is not running: `tuitrain queue wait` starts it again")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    queue = Queue()
    for ref in args.ids:
        number = ref.lstrip("#")
        if not number.isdigit():
            raise UserError(f"queue rm {ref!r}: expected an entry number, e.g. 3 or #3 "
                            "(see `tuitrain queue`)")
        entry = queue.remove(int(number))
        remove_path(entry.run)  # it never ran: its folder holds only its spec
        print(f"removed #{entry.id}: {entry.run.name}")
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    """Block until nothing is queued or running; exit 0 when every run that ended meanwhile
    completed, 1 otherwise (and 124 on `--timeout`)."""
    queue = Queue()
    seen = {e.id for e in queue.entries(("ended",))}
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    failed = 0
    print(f"waiting for {queue.pending()} queued or running", flush=True)
    while True:
        if queue.pending() and scheduler.ensure_running(queue):
            print("scheduler was not running: started it", file=sys.stderr)
        for e in queue.entries(("ended",)):
            if e.id not in seen:
                seen.add(e.id)
                failed += e.status != "completed"
                print(f"#{e.id} {e.run.name}: {e.status}", flush=True)
        if not queue.pending():
            return 1 if failed else 0
        if deadline is not None and time.monotonic() > deadline:
            print(f"{queue.pending()} entries still queued or running after {args.timeout:g} s",
                  file=sys.stderr)
            return 124
        time.sleep(0.5)
