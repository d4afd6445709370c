"""The queue's scheduler: the one process per queue (core/queue_db.py) that starts queued runs
when their devices are free, at most `max_parallel` at a time, and records how each ended.

It runs detached, as a run's runner does (`python -m tuitrain.scheduler`, a session of its
own, surviving the SSH connection), and its liveness is the same: an exclusive lock on
`scheduler.lock` in the queue's folder, taken by whoever starts it and handed over with no
gap (core/liveness.py). `ensure_running` starts one when none holds the lock; it ends by
itself once nothing is queued or running, letting go of the lock inside the transaction
that saw the queue empty, so an entry added at that moment starts a new one.

Entries start in queue order. On a machine with NVIDIA GPUs an entry waits until its
`--devices` can be placed on GPUs that no other process uses or claims (core/placement.py),
counting those the scheduler's own runs were planned on until their runners hold them; the
runner then claims its GPUs as any run does. Runs on the CPU share it: K at once get about
cores/K math threads and data workers each (core/cores.py). The starting and watching of a
run is a `Launcher`, so that a benchmark can swap in one that trains nothing."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tuitrain.core import cores, gpu_claims, gpus, launch, notify, placement
from tuitrain.core.errors import UserError, one_line
from tuitrain.core.gpus import Gpu
from tuitrain.core.liveness import Lock, LockBusy, is_held
from tuitrain.core.queue_db import QUEUE_DIR_ENV, Entry, Queue
from tuitrain.core.rundir import RunDir

POLL = 0.5  # seconds between looks at the queue and the runs while nothing changes


class Launcher(Protocol):
    """Starts an entry's run and says whether it still runs and how it ended."""

    def start(self, entry: Entry, cpu_share: int | None) -> None: ...

    def alive(self, entry: Entry) -> bool: ...

    def outcome(self, entry: Entry) -> str:
        """The run's status once it no longer runs; `queued` if it never started."""
        ...

    def fail(self, entry: Entry, message: str) -> None:
        """Record that the entry's run could not train, and why."""
        ...


@dataclass
class RunLauncher:
    """The real launcher: the run's runner, started as `tuitrain train --detach` starts it."""

    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, entry: Entry, cpu_share: int | None) -> None:
        run = RunDir.open(entry.run)
        self.procs[entry.id] = launch.start_runner(run, resume=entry.resume, cores=cpu_share)

    def alive(self, entry: Entry) -> bool:
        proc = self.procs.get(entry.id)
        if proc is not None and proc.poll() is not None:  # reaped: no zombie is left behind
            del self.procs[entry.id]
        return RunDir(entry.run).is_alive()

    def outcome(self, entry: Entry) -> str:
        return RunDir(entry.run).status_or("crashed")

    def fail(self, entry: Entry, message: str) -> None:
        run = RunDir(entry.run)
        with contextlib.suppress(OSError, UserError):
            run.write_summary({**run.summary(), "status": "failed", "error": message})


def gpu_fit(entry: Entry, found: Sequence[Gpu], cuda_visible: str | None,
            reserved: dict[str, str]) -> tuple[str, ...] | str | None:
    """The GPUs (UUIDs) the entry would train on now, () where it does not use NVIDIA GPUs,
    None while too few are free, and why not where it never can be met (a GPU this machine
    lacks, more GPUs than it has). `reserved`: {uuid: run} planned for runs just started."""
    if entry.device not in ("auto", "cpu") and not entry.device.startswith("cuda"):
        return ()
    if entry.device == "cpu" or not found:
        return ()
    number = entry.device.partition(":")[2]
    try:
        request = (placement.DevicesRequest("numbers", numbers=(int(number),),
                                            given=f"--device {entry.device}") if number
                   else placement.parse_devices(entry.devices))
        shown = placement.visible(found, cuda_visible)
    except UserError as exc:
        return str(exc)
    missing = [n for n in request.numbers if n >= len(shown)]
    if missing or (request.kind == "count" and request.count > len(shown)):
        return (f"{request.said()}: this machine shows {len(shown)} GPU(s) "
                f"(0-{len(shown) - 1}); it can never start here")
    try:
        held = {**gpu_claims.holders(shown), **reserved}
        plan = placement.plan(request, placement.candidates(shown, held), anyway="")
    except UserError:
        return None
    chosen = plan.order if plan.need is None else plan.order[:plan.need]
    return tuple(c.gpu.uuid for c in chosen)


@dataclass
class Scheduler:
    """Starts and watches the queue's runs; `tick` is one look, `serve` loops until idle."""

    queue: Queue
    launcher: Launcher
    read_gpus: Callable[[], list[Gpu]] = gpus.read
    say: Callable[[str], None] = print
    upkeep: Callable[[list[Entry]], None] | None = None  # sweeps' pruning and disk budgets
    planned: dict[int, tuple[str, ...]] = field(default_factory=dict)  # entry id -> GPU uuids
    launched: set[int] = field(default_factory=set)  # entries this scheduler started

    def tick(self) -> bool:
        """Record ended runs, look after the sweeps, start what fits; True when anything
        changed."""
        ended = self.reap()
        if self.upkeep is not None:
            try:  # a sweep's pruning or disk budget never takes the queue down
                self.upkeep(self.queue.entries(("started",)))
            except Exception as exc:
                self.say(f"sweep upkeep: {type(exc).__name__}: {one_line(exc)}")
        return self.start_fitting() or ended

    def reap(self) -> bool:
        changed = False
        for entry in self.queue.entries(("started",)):
            if self.launcher.alive(entry):
                continue
            status = self.launcher.outcome(entry)
            self.planned.pop(entry.id, None)
            changed = True
            if status == "queued" and entry.id in self.launched:  # died before a word
                message = (f"its runner exited before training started; see "
                           f"{entry.run / 'runner.log'}")
                self.launcher.fail(entry, message)
                self.queue.end(entry.id, "failed")
                self.say(f"#{entry.id} {entry.run.name}: failed: {message}")
            elif status == "queued":  # never started: a scheduler before this one died
                self.queue.requeue(entry.id)
                self.say(f"#{entry.id} {entry.run.name}: never started; back in the queue")
            else:
                self.queue.end(entry.id, status)
                self.say(f"#{entry.id} {entry.run.name}: {status}")
                if status == "crashed":
                    notify.notify_crashed(entry.run)
        return changed

    def start_fitting(self) -> bool:
        """Start queued entries in order while fewer than max_parallel run; the first one
        whose devices are not free waits, and those behind it with it (no overtaking)."""
        running = len(self.queue.entries(("started",)))
        parallel = self.queue.max_parallel
        share = cores.share(parallel) if parallel > 1 else None
        started = False
        found: list[Gpu] | None = None
        for entry in self.queue.entries(("queued",)):
            if running >= parallel:
                break
            if found is None:
                found = self.read_gpus()
            reserved = {u: f"#{i}" for i, uuids in self.planned.items() for u in uuids}
            fit = gpu_fit(entry, found, os.environ.get("CUDA_VISIBLE_DEVICES"), reserved)
            if fit is None:
                break
            if not self.queue.start(entry.id):  # removed meanwhile
                continue
            if isinstance(fit, str):  # never: it fails rather than holding the queue up
                self.launcher.fail(entry, fit)
                self.queue.end(entry.id, "failed")
                self.say(f"#{entry.id} {entry.run.name}: failed: {fit}")
                continue
            try:
                self.launcher.start(entry, share)
            except (UserError, OSError) as exc:  # its folder gone, or it runs already
                self.queue.end(entry.id, "failed")
                self.say(f"#{entry.id} {entry.run.name}: could not start: {one_line(exc)}")
                continue
            self.launched.add(entry.id)
            self.planned[entry.id] = fit
            self.say(f"#{entry.id} {entry.run.name}: started" + (
                f" on {share} core(s)" if share and not fit else ""))
            running += 1
            started = True
        return started

    def serve(self, lock: Lock, poll: float = POLL) -> None:
        """Schedule until nothing is queued or running, then let go of the lock."""
        while True:
            try:
                if self.tick():
                    continue
                if self.queue.idle_release(lock.release):
                    self.say("queue empty: scheduler ends")
                    return
            except UserError as exc:  # the database busy or its disk in trouble: try again
                self.say(f"queue: {one_line(exc)}; trying again")
            time.sleep(poll)


def is_running(queue: Queue) -> bool:
    return is_held(queue.lockfile)


def ensure_running(queue: Queue) -> bool:
    """Start the queue's scheduler unless one runs; True when this call started it."""
    if is_running(queue):
        return False
    try:
        lock = Lock(queue.lockfile).acquire()
    except LockBusy:  # another command started one this moment
        return False
    with lock:
        cmd = [sys.executable, "-m", "tuitrain.scheduler", "--lock-fd", str(lock.fd)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env[QUEUE_DIR_ENV] = str(queue.folder)
        with open(queue.log, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                    pass_fds=(lock.fd,))
        (queue.folder / "scheduler.pid").write_text(str(proc.pid))
    return True
