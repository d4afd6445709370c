"""The scheduler process: `python -m tuitrain.scheduler --lock-fd N`, started detached by
`tuitrain queue add` or `tuitrain sweep` (core/scheduler.py `ensure_running`) with the
queue's lock. It starts and watches the queued runs, prunes sweeps' trials and keeps their
disk budgets (core/sweep_upkeep.py), and ends once the queue is empty; SIGTERM ends it sooner,
leaving the runs it started training (each in a session of its own)."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from tuitrain.core.liveness import Lock
from tuitrain.core.queue_db import Queue
from tuitrain.core.scheduler import RunLauncher, Scheduler
from tuitrain.core.sweep_upkeep import SweepUpkeep


def _say(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitrain.scheduler")
    parser.add_argument("--lock-fd", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    queue = Queue()
    lock = Lock(queue.lockfile).adopt(args.lock_fd)
    _say(f"scheduler started (queue {queue.folder})")
    with lock:
        Scheduler(queue, RunLauncher(), say=_say, upkeep=SweepUpkeep(_say)).serve(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
